// SPDX-License-Identifier: MIT
/*
 * core-oracle: the CO-RE relocation values libbpf computes for BPF objects against a target BTF.
 *
 *   core-oracle TARGET_BTF OBJECT...
 *
 * For each object it runs libbpf's own bpf_object__load() with btf_custom_path = TARGET_BTF and
 * libbpf's debug log on, and prints one JSON object per line:
 *   {"object":..., "sec":..., "relo":N, "prog":..., "insn_off":BYTES, "kind":"byte_off",
 *    "local":"<spec>", "candidates":["<spec>",...], "result":"ok"|"poison"|"error",
 *    "value":N, "error":"..."}
 * (values above 2^53 - 1 are printed as decimal strings).
 * "relo" is the record's index among its section's core_relo records in .BTF.ext, "insn_off" the
 * instruction's byte offset in its ELF section (the record's insn_off), "value" libbpf's new value
 * of the patched instruction (imm, off or imm64).
 *
 * No kernel is involved: the bpf() system call is replaced (link with --wrap=syscall) by one that
 * accepts every load and map creation, and btf__load_vmlinux_btf() returns TARGET_BTF (objects
 * with fentry/BTF-typed programs or ksyms look the kernel's BTF up). libbpf relocates before it
 * loads programs, so the values are exactly libbpf's. A relocation error stops libbpf's pass over
 * the object; the object is then relocated again one program at a time, so every program's
 * relocations are reported and each error is attributed to its program.
 */
#define _GNU_SOURCE
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *target_path;

/* ---- the fake kernel ---------------------------------------------------------------------- */

long __real_syscall(long nr, ...);

static long fake_fd(void)
{
	int fd = memfd_create("core-oracle", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, 1 << 20) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

long __wrap_syscall(long nr, ...)
{
	va_list ap;
	long a[6];
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr != __NR_bpf)
		return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	switch ((int)a[0]) {
	case BPF_PROG_LOAD:
	case BPF_MAP_CREATE:
	case BPF_BTF_LOAD:
		return fake_fd();
	case BPF_MAP_UPDATE_ELEM:
	case BPF_MAP_FREEZE:
	case BPF_MAP_LOOKUP_ELEM:
		return 0;
	case BPF_PROG_GET_NEXT_ID:
	case BPF_MAP_GET_NEXT_ID:
	case BPF_BTF_GET_NEXT_ID:
	case BPF_LINK_GET_NEXT_ID:
		errno = ENOENT;
		return -1;
	default:
		errno = EINVAL;
		return -1;
	}
}

struct btf *__real_btf__load_vmlinux_btf(void);

struct btf *__wrap_btf__load_vmlinux_btf(void)
{
	return btf__parse(target_path, NULL);
}

/* ---- libbpf's log, kept per load ------------------------------------------------------------ */

static char *logbuf;
static size_t loglen, logcap;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	(void)level;
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return 0;
	if (loglen + n + 1 > logcap) {
		logcap = (loglen + n + 1) * 2;
		logbuf = realloc(logbuf, logcap);
		if (!logbuf)
			abort();
	}
	vsnprintf(logbuf + loglen, n + 1, fmt, ap);
	loglen += n;
	if (getenv("CORE_ORACLE_LOG"))
		fprintf(stderr, "%s", logbuf + loglen - n);
	return 0;
}

/* ---- results ---------------------------------------------------------------------------------- */

#define MAX_CANDS 32

struct relo {
	char sec[128];
	char prog[128];
	int relo;
	int insn; /* program-relative instruction index */
	char kind[32];
	char local[512];
	char cands[MAX_CANDS][512];
	int ncands;
	int result; /* 0 none yet, 1 ok, 2 poison, 3 error */
	unsigned long long value;
	int has_memsz;
	unsigned memsz;
	char error[512];
};

static struct relo *relos;
static int nrelos, caprelos;

static struct relo *relo_get(const char *sec, const char *prog, int idx)
{
	int i;

	for (i = 0; i < nrelos; i++)
		if (!strcmp(relos[i].sec, sec) && relos[i].relo == idx)
			return &relos[i];
	if (nrelos == caprelos) {
		caprelos = caprelos ? caprelos * 2 : 64;
		relos = realloc(relos, caprelos * sizeof(*relos));
		if (!relos)
			abort();
	}
	memset(&relos[nrelos], 0, sizeof(*relos));
	snprintf(relos[nrelos].sec, sizeof(relos[nrelos].sec), "%s", sec);
	snprintf(relos[nrelos].prog, sizeof(relos[nrelos].prog), "%s", prog);
	relos[nrelos].relo = idx;
	relos[nrelos].insn = -1;
	return &relos[nrelos++];
}

/* Parse one load's log. Lines: "sec 'S': found N CO-RE relocations" then, per record,
 * "prog 'P': relo #I: <spec>", candidates, and the patch/poison/error lines. */
static void parse_log(void)
{
	char sec[128] = "";
	char *line = logbuf, *next;

	if (!logbuf)
		return;
	for (; line && *line; line = next) {
		char prog[128], rest[1024];
		int idx, n, insn;
		unsigned long long from, to;
		unsigned a, b;
		struct relo *r;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!strncmp(line, "libbpf: ", 8))
			line += 8;
		if (sscanf(line, "sec '%127[^']': found %d CO-RE relocations", sec, &n) == 2)
			continue;
		if (sscanf(line, "prog '%127[^']': relo #%d: %1023[^\n]", prog, &idx, rest) != 3)
			continue;
		r = relo_get(sec, prog, idx);
		if (rest[0] == '<') {
			char kind[32];

			snprintf(r->local, sizeof(r->local), "%s", rest);
			if (sscanf(rest, "<%31[^>]>", kind) == 1)
				snprintf(r->kind, sizeof(r->kind), "%s", kind);
		} else if (!strncmp(rest, "matching candidate #", 20)) {
			char *spec = strchr(rest + 20, ' ');
			if (spec && r->ncands < MAX_CANDS)
				snprintf(r->cands[r->ncands++], sizeof(r->cands[0]), "%s", spec + 1);
		} else if (sscanf(rest, "patched insn #%d (%*[^)]) imm %llu -> %llu", &insn, &from, &to) == 3 ||
			   sscanf(rest, "patched insn #%d (%*[^)]) off %llu -> %llu", &insn, &from, &to) == 3 ||
			   sscanf(rest, "patched insn #%d (%*[^)]) imm64 %llu -> %llu", &insn, &from, &to) == 3) {
			if (r->result == 0) {
				r->result = 1;
				r->value = to;
				r->insn = insn;
			}
		} else if (sscanf(rest, "patched insn #%d (%*[^)]) mem_sz %u -> %u", &insn, &a, &b) == 3) {
			r->has_memsz = 1;
			r->memsz = b;
		} else if (sscanf(rest, "substituting insn #%d w/ invalid insn", &insn) == 1) {
			if (r->result == 0 || r->result == 2) {
				r->result = 2;
				if (r->insn < 0 || insn < r->insn)
					r->insn = insn;
			}
		} else if (!strncmp(rest, "non-matching candidate", 22) || !strncmp(rest, "no matching targets", 19)) {
			continue;
		} else {
			/* anything else libbpf says about one relocation is a failure (ambiguity, bad
			 * access string, unsupported instruction, ...): keep its first message */
			char *nl = rest + strlen(rest);
			while (nl > rest && (nl[-1] == ' ' || nl[-1] == '\n'))
				*--nl = 0;
			if (r->result != 3) {
				r->result = 3;
				snprintf(r->error, sizeof(r->error), "%s", rest);
			}
			if (sscanf(rest, "failed to patch insn #%d", &insn) == 1)
				r->insn = insn;
		}
	}
}

/* Section-relative offsets of programs: the symbol's value in its section. */
struct progsym {
	char sec[128];
	char name[128];
	unsigned long off;
};
static struct progsym *syms;
static int nsyms;

static int read_symbols(const char *path)
{
	int fd = open(path, O_RDONLY);
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	nsyms = 0;
	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_getshdrstrndx(elf, &shstrndx)) {
		close(fd);
		return -1;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		size_t i, n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n; i++) {
			GElf_Sym s;
			GElf_Shdr tsh;
			Elf_Scn *ts;
			const char *name, *sname;

			if (!gelf_getsym(data, i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC)
				continue;
			ts = elf_getscn(elf, s.st_shndx);
			if (!ts || !gelf_getshdr(ts, &tsh))
				continue;
			name = elf_strptr(elf, sh.sh_link, s.st_name);
			sname = elf_strptr(elf, shstrndx, tsh.sh_name);
			if (!name || !sname)
				continue;
			syms = realloc(syms, (nsyms + 1) * sizeof(*syms));
			snprintf(syms[nsyms].sec, sizeof(syms[0].sec), "%s", sname);
			snprintf(syms[nsyms].name, sizeof(syms[0].name), "%s", name);
			syms[nsyms].off = s.st_value;
			nsyms++;
		}
	}
	elf_end(elf);
	close(fd);
	return 0;
}

static long prog_offset(const char *sec, const char *prog)
{
	int i;

	for (i = 0; i < nsyms; i++)
		if (!strcmp(syms[i].name, prog) && !strcmp(syms[i].sec, sec))
			return (long)syms[i].off;
	return -1;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* One load; only_prog < 0: every program, else only the only_prog-th. Returns load's result. */
static int load_once(const char *path, int only_prog, int *nprogs)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = target_path, .kconfig = getenv("CORE_ORACLE_KCONFIG"));
	struct bpf_object *obj;
	struct bpf_program *p;
	int i = 0, err;

	loglen = 0;
	if (logbuf)
		logbuf[0] = 0;
	obj = bpf_object__open_file(path, &opts);
	if (!obj) {
		fprintf(stderr, "core-oracle: %s: cannot open: %s\n", path, strerror(errno));
		return -2;
	}
	bpf_object__for_each_program(p, obj) {
		bpf_program__set_autoload(p, only_prog < 0 || i == only_prog);
		i++;
	}
	*nprogs = i;
	err = bpf_object__load(obj);
	parse_log();
	bpf_object__close(obj);
	return err;
}

int main(int argc, char **argv)
{
	int i, j, n, k;

	if (argc < 3) {
		fprintf(stderr, "usage: core-oracle TARGET_BTF OBJECT...\n");
		return 2;
	}
	target_path = argv[1];
	libbpf_set_print(print_fn);
	for (i = 2; i < argc; i++) {
		nrelos = 0;
		if (read_symbols(argv[i]) < 0) {
			fprintf(stderr, "core-oracle: %s: not an ELF file\n", argv[i]);
			return 1;
		}
		if (load_once(argv[i], -1, &n) == -2)
			return 1;
		for (k = 0; k < nrelos; k++)
			if (relos[k].result == 3)
				break;
		if (k < nrelos) {
			/* an error stopped libbpf's pass: once more, program by program */
			nrelos = 0;
			for (j = 0; j < n; j++)
				load_once(argv[i], j, &n);
		}
		for (k = 0; k < nrelos; k++) {
			struct relo *r = &relos[k];
			long off = prog_offset(r->sec, r->prog);
			int c;

			printf("{\"object\":");
			json_str(argv[i]);
			printf(",\"sec\":");
			json_str(r->sec);
			printf(",\"relo\":%d,\"prog\":", r->relo);
			json_str(r->prog);
			if (off >= 0 && r->insn >= 0)
				printf(",\"insn_off\":%ld", off + (long)r->insn * 8);
			printf(",\"kind\":");
			json_str(r->kind);
			printf(",\"local\":");
			json_str(r->local);
			printf(",\"candidates\":[");
			for (c = 0; c < r->ncands; c++) {
				if (c)
					putchar(',');
				json_str(r->cands[c]);
			}
			printf("],\"result\":\"%s\"",
			       r->result == 1 ? "ok" : r->result == 2 ? "poison" : r->result == 3 ? "error" : "none");
			/* exact in JSON numbers up to 2^53 - 1; larger values as decimal strings */
			if (r->result == 1 && r->value <= 9007199254740991ULL)
				printf(",\"value\":%llu", r->value);
			else if (r->result == 1)
				printf(",\"value\":\"%llu\"", r->value);
			if (r->has_memsz)
				printf(",\"mem_sz\":%u", r->memsz);
			if (r->result == 3) {
				printf(",\"error\":");
				json_str(r->error);
			}
			printf("}\n");
		}
	}
	return 0;
}
