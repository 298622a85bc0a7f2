// SPDX-License-Identifier: MIT
/*
 * btf-goldens: what libbpf makes of a module's BTF, as the reference modbtf's
 * distill and reconcile are compared with byte for byte.
 *
 *   btf-goldens VMLINUX.btf TARGET.btf OUTDIR MODULE.btf...
 *
 * VMLINUX.btf: the raw base BTF the modules were built on; TARGET.btf: the
 * raw BTF of the kernel to relocate onto; each MODULE.btf: a module's raw
 * .BTF (split on VMLINUX.btf). For each, with OUT = OUTDIR/<name without
 * .btf>, writes in the byte order of the input:
 *   OUT.base.raw   btf__distill_base(): the distilled base
 *   OUT.split.raw  the new split BTF on top of it (split part only)
 *   OUT.reloc.raw  that split BTF re-read on OUT.base.raw and btf__relocate()d
 *                  onto TARGET.btf; on failure OUT.reloc.err holds libbpf's
 *                  last warning and the error code instead.
 * Build: see scripts/goldens/make-goldens.sh (links libbpf >= 1.5 statically).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static char last_warning[1024];

static int log_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		vsnprintf(last_warning, sizeof(last_warning), fmt, ap);
	return 0;
}

static void die(const char *what, const char *path, int err)
{
	fprintf(stderr, "btf-goldens: %s %s: %s\n", what, path, strerror(err < 0 ? -err : err));
	exit(1);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f))
		die("cannot write", path, errno);
}

static void write_btf(const char *out, const char *suffix, const struct btf *btf)
{
	char path[4096];
	__u32 size;
	const void *raw = btf__raw_data(btf, &size);

	if (!raw)
		die("no raw data for", suffix, errno);
	snprintf(path, sizeof(path), "%s%s", out, suffix);
	write_file(path, raw, size);
}

static struct btf *parse(const char *path, struct btf *base)
{
	struct btf *btf = base ? btf__parse_raw_split(path, base) : btf__parse_raw(path);

	if (!btf)
		fprintf(stderr, "btf-goldens: cannot parse %s: %s\n", path, strerror(errno));
	return btf;
}

static void goldens(struct btf *vmlinux, const struct btf *target, const char *mod, const char *out);

int main(int argc, char **argv)
{
	struct btf *vmlinux, *target;
	char out[4096];
	int i;

	if (argc < 5) {
		fprintf(stderr, "usage: btf-goldens VMLINUX.btf TARGET.btf OUTDIR MODULE.btf...\n");
		return 2;
	}
	libbpf_set_print(log_fn);
	vmlinux = parse(argv[1], NULL);
	target = parse(argv[2], NULL);
	if (!vmlinux || !target)
		return 1;
	for (i = 4; i < argc; i++) {
		const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
		size_t n = strlen(name);

		if (n > 4 && !strcmp(name + n - 4, ".btf"))
			n -= 4;
		snprintf(out, sizeof(out), "%s/%.*s", argv[3], (int)n, name);
		goldens(vmlinux, target, argv[i], out);
	}
	btf__free(target);
	btf__free(vmlinux);
	return 0;
}

static void goldens(struct btf *vmlinux, const struct btf *target, const char *mod, const char *out)
{
	struct btf *module, *new_base, *new_split, *dbase, *dsplit;
	char path[4096], msg[1200];
	int err;

	/* A module that fails is reported and the others go on; it gets no goldens. */
	module = parse(mod, vmlinux);
	if (!module)
		return;
	err = btf__distill_base(module, &new_base, &new_split);
	if (err) {
		fprintf(stderr, "btf-goldens: btf__distill_base failed on %s: %s\n", mod, strerror(-err));
		btf__free(module);
		return;
	}
	/* New BTF is built in host order; the goldens keep the module's. */
	btf__set_endianness(new_base, btf__endianness(module));
	btf__set_endianness(new_split, btf__endianness(module));
	write_btf(out, ".base.raw", new_base);
	write_btf(out, ".split.raw", new_split);

	/* Reconcile as a module loader would: from the bytes written, not the objects in memory. */
	snprintf(path, sizeof(path), "%s.base.raw", out);
	dbase = parse(path, NULL);
	snprintf(path, sizeof(path), "%s.split.raw", out);
	dsplit = dbase ? parse(path, dbase) : NULL;
	if (!dsplit) {
		/* libbpf cannot read back what it wrote: no relocation golden. */
		btf__free(dbase);
		goto out;
	}
	last_warning[0] = 0;
	err = btf__relocate(dsplit, target);
	if (err) {
		size_t n = strlen(last_warning);

		while (n && last_warning[n - 1] == '\n')
			last_warning[--n] = 0;
		snprintf(msg, sizeof(msg), "%s\nerror %d\n", last_warning, err);
		snprintf(path, sizeof(path), "%s.reloc.err", out);
		write_file(path, msg, strlen(msg));
	} else {
		btf__set_endianness(dsplit, btf__endianness(module));
		write_btf(out, ".reloc.raw", dsplit);
	}
	btf__free(dsplit);
	btf__free(dbase);
out:
	btf__free(new_split);
	btf__free(new_base);
	btf__free(module);
}
