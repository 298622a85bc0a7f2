// SPDX-License-Identifier: MIT
/*
 * Lets a libbpf.a compiled against glibc >= 2.38 (Debian trixie and later) link
 * on an older glibc: those headers redirect scanf/strtoull to the C23 entry
 * points. libbpf only parses decimal and hex numbers with them, where C23 and
 * C99 agree. Built only when the C library lacks them (make-goldens.sh).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int __isoc23_sscanf(const char *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsscanf(s, fmt, ap);
	va_end(ap);
	return n;
}

int __isoc23_fscanf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfscanf(f, fmt, ap);
	va_end(ap);
	return n;
}

unsigned long long __isoc23_strtoull(const char *s, char **end, int base)
{
	return strtoull(s, end, base);
}
