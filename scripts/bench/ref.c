/*
 * ref: the C reference the benchmark measures modbtf against. It does what
 * `modbtf distill` / `modbtf reconcile` do to a plain (uncompressed) module,
 * with libbpf (>= 1.5: btf__distill_base, btf__relocate), in one process over
 * all the modules given:
 *
 *   ref distill   VMLINUX_BTF OUTDIR MODULE.ko...
 *       .BTF -> btf__distill_base(); the new split replaces .BTF, the distilled
 *       base is added as .BTF.base_minimal.
 *   ref reconcile VMLINUX_BTF OUTDIR MODULE.ko...
 *       .BTF (split on .BTF.base_minimal) -> btf__relocate() onto vmlinux; the
 *       result replaces .BTF, the distilled split is kept as .BTF.split_minimal.
 *
 * Each output is written as modbtf writes it: the input's bytes up to its old
 * section header table, a replaced section in place when it fits (appended
 * otherwise), added sections and a new section header table appended; written
 * to a temporary file beside OUTDIR/NAME with writev() straight from the input
 * buffer, fsync()ed, renamed over the target, directory fsync()ed.
 * .BTF_ids renumbering (a few modules, a few hundred bytes) is not done.
 */
#define _GNU_SOURCE
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * libbpf.a from Debian trixie was built against glibc 2.41, whose headers
 * redirect scanf/strtoull to C23 entry points older glibc lacks. When linking
 * that archive on an older system, these forward to the classic functions.
 */
#ifdef REF_C23_SHIMS
int __isoc23_sscanf(const char *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsscanf(s, fmt, ap);
	va_end(ap);
	return r;
}
int __isoc23_fscanf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfscanf(f, fmt, ap);
	va_end(ap);
	return r;
}
unsigned long long __isoc23_strtoull(const char *s, char **end, int base)
{
	return strtoull(s, end, base);
}
long __isoc23_strtol(const char *s, char **end, int base)
{
	return strtol(s, end, base);
}
unsigned long __isoc23_strtoul(const char *s, char **end, int base)
{
	return strtoul(s, end, base);
}
long long __isoc23_strtoll(const char *s, char **end, int base)
{
	return strtoll(s, end, base);
}
#endif

static void die(const char *file, const char *msg)
{
	fprintf(stderr, "ref: %s: %s\n", file, msg);
	exit(1);
}

struct input {
	unsigned char *buf;
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Shdr *sh;
	const char *names;
};

static void read_input(const char *path, struct input *in)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path, strerror(errno));
	in->len = st.st_size;
	in->buf = malloc(in->len ? in->len : 1);
	size_t got = 0;
	while (got < in->len) {
		ssize_t n = read(fd, in->buf + got, in->len - got);
		if (n <= 0)
			die(path, "read failed");
		got += n;
	}
	close(fd);
	if (in->len < sizeof(Elf64_Ehdr) || memcmp(in->buf, ELFMAG, SELFMAG) || in->buf[EI_CLASS] != ELFCLASS64)
		die(path, "not an ELF64 file");
	in->eh = (Elf64_Ehdr *)in->buf;
	if (in->eh->e_shoff + (size_t)in->eh->e_shnum * sizeof(Elf64_Shdr) > in->len)
		die(path, "section headers out of the file");
	in->sh = (Elf64_Shdr *)(in->buf + in->eh->e_shoff);
	in->names = (const char *)in->buf + in->sh[in->eh->e_shstrndx].sh_offset;
}

static int find_section(const struct input *in, const char *name)
{
	for (int i = 0; i < in->eh->e_shnum; i++)
		if (!strcmp(in->names + in->sh[i].sh_name, name))
			return i;
	return -1;
}

struct add {
	const char *name;
	const void *data;
	size_t len;
};

#define MAX_IOV 32
static unsigned char *zeros;
static size_t zeros_len;

/* A run of `len` zero bytes to write from (write_module sizes it first, so it never moves mid-write). */
static const void *zero_run(size_t len)
{
	if (len > zeros_len) {
		free(zeros);
		zeros = calloc(1, len);
		zeros_len = len;
	}
	return zeros;
}

struct out {
	struct iovec iov[MAX_IOV];
	int n;
	size_t len;
};

static void put(struct out *o, const void *p, size_t len)
{
	if (!len)
		return;
	if (o->n == MAX_IOV)
		die("output", "too many pieces");
	o->iov[o->n].iov_base = (void *)p;
	o->iov[o->n].iov_len = len;
	o->n++;
	o->len += len;
}

static void pad(struct out *o, size_t alignment)
{
	size_t at = alignment > 1 ? (o->len + alignment - 1) / alignment * alignment : o->len;
	put(o, zero_run(at - o->len), at - o->len);
}

/* Write `in` with section `repl` replaced by `data` and the sections in `adds` appended, atomically. */
static void write_module(const char *dest, const struct input *in, int repl, const void *data, size_t len,
			 const struct add *adds, int nadd)
{
	size_t nsec = in->eh->e_shnum;
	size_t table_end = in->eh->e_shoff + nsec * sizeof(Elf64_Shdr);
	size_t content_end = table_end >= in->len ? in->eh->e_shoff : in->len;
	zero_run(in->len + 65536);
	Elf64_Shdr *hdr = malloc((nsec + nadd) * sizeof(Elf64_Shdr));
	memcpy(hdr, in->sh, nsec * sizeof(Elf64_Shdr));
	const Elf64_Shdr *old = &in->sh[repl];
	struct out o = { .n = 0, .len = 0 };
	int in_place = len <= old->sh_size && old->sh_offset + old->sh_size <= content_end;

	/* unchanged bytes before and after the replaced section, the old section cleared */
	put(&o, in->buf, old->sh_offset);
	if (in_place)
		put(&o, data, len);
	size_t cleared = old->sh_size - (in_place ? len : 0);
	put(&o, zero_run(cleared), cleared);
	put(&o, in->buf + old->sh_offset + old->sh_size, content_end - old->sh_offset - old->sh_size);
	if (!in_place) {
		pad(&o, old->sh_addralign);
		hdr[repl].sh_offset = o.len;
		put(&o, data, len);
	}
	hdr[repl].sh_size = len;

	/* new section names, appended to a copy of the name table */
	size_t names_len = in->sh[in->eh->e_shstrndx].sh_size;
	size_t extra = 0;
	for (int i = 0; i < nadd; i++)
		extra += strlen(adds[i].name) + 1;
	char *names = malloc(names_len + extra);
	memcpy(names, in->names, names_len);
	size_t at = names_len;
	for (int i = 0; i < nadd; i++) {
		Elf64_Shdr *h = &hdr[nsec + i];
		*h = *old; /* modelled on .BTF */
		h->sh_addr = 0;
		h->sh_link = 0;
		h->sh_info = 0;
		h->sh_name = at;
		strcpy(names + at, adds[i].name);
		at += strlen(adds[i].name) + 1;
		pad(&o, h->sh_addralign);
		h->sh_offset = o.len;
		h->sh_size = adds[i].len;
		put(&o, adds[i].data, adds[i].len);
	}
	hdr[in->eh->e_shstrndx].sh_offset = o.len;
	hdr[in->eh->e_shstrndx].sh_size = at;
	put(&o, names, at);
	pad(&o, 8);
	Elf64_Ehdr eh = *in->eh;
	eh.e_shoff = o.len;
	eh.e_shnum = nsec + nadd;
	put(&o, hdr, (nsec + nadd) * sizeof(Elf64_Shdr));
	/* the ELF header itself, patched */
	o.iov[0].iov_base = in->buf + sizeof(eh);
	o.iov[0].iov_len -= sizeof(eh);
	memmove(&o.iov[1], &o.iov[0], o.n * sizeof(struct iovec));
	o.iov[0].iov_base = &eh;
	o.iov[0].iov_len = sizeof(eh);
	o.n++;

	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.ref-%d.tmp", dest, getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		die(tmp, strerror(errno));
	struct iovec *iov = o.iov;
	int n = o.n;
	while (n > 0) {
		ssize_t w = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
		if (w < 0)
			die(tmp, strerror(errno));
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		die(tmp, strerror(errno));
	if (rename(tmp, dest) < 0)
		die(dest, strerror(errno));
	free(names);
	free(hdr);
}

static const void *section_data(const struct input *in, int i, size_t *len)
{
	if (in->sh[i].sh_offset + in->sh[i].sh_size > in->len)
		die("module", "section out of the file");
	*len = in->sh[i].sh_size;
	return in->buf + in->sh[i].sh_offset;
}

static void distill_one(const char *path, const char *dest, struct btf *vmlinux)
{
	struct input in;
	read_input(path, &in);
	int s = find_section(&in, ".BTF");
	if (s < 0)
		die(path, "no .BTF");
	size_t len;
	const void *raw = section_data(&in, s, &len);
	struct btf *split = btf__new_split(raw, len, vmlinux);
	if (!split)
		die(path, "cannot parse .BTF");
	struct btf *nbase, *nsplit;
	if (btf__distill_base(split, &nbase, &nsplit))
		die(path, "btf__distill_base failed");
	uint32_t blen, slen;
	const void *bdata = btf__raw_data(nbase, &blen);
	const void *sdata = btf__raw_data(nsplit, &slen);
	struct add a = { ".BTF.base_minimal", bdata, blen };
	write_module(dest, &in, s, sdata, slen, &a, 1);
	btf__free(nsplit);
	btf__free(nbase);
	btf__free(split);
	free(in.buf);
}

static void reconcile_one(const char *path, const char *dest, struct btf *vmlinux)
{
	struct input in;
	read_input(path, &in);
	int s = find_section(&in, ".BTF");
	int b = find_section(&in, ".BTF.base_minimal");
	if (s < 0 || b < 0)
		die(path, "not distilled");
	size_t slen, blen;
	const void *sraw = section_data(&in, s, &slen);
	const void *braw = section_data(&in, b, &blen);
	struct btf *dist = btf__new(braw, blen);
	if (!dist)
		die(path, "cannot parse .BTF.base_minimal");
	struct btf *split = btf__new_split(sraw, slen, dist);
	if (!split)
		die(path, "cannot parse .BTF");
	if (btf__relocate(split, vmlinux))
		die(path, "btf__relocate failed");
	uint32_t len;
	const void *data = btf__raw_data(split, &len);
	struct add a = { ".BTF.split_minimal", sraw, slen };
	write_module(dest, &in, s, data, len, &a, 1);
	btf__free(split);
	btf__free(dist);
	free(in.buf);
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[1], "distill") && strcmp(argv[1], "reconcile"))) {
		fprintf(stderr, "usage: ref distill|reconcile VMLINUX_BTF OUTDIR MODULE.ko...\n");
		return 2;
	}
	libbpf_set_print(NULL);
	struct btf *vmlinux = btf__parse(argv[2], NULL);
	if (!vmlinux)
		die(argv[2], "cannot parse");
	int distill = !strcmp(argv[1], "distill");
	for (int i = 4; i < argc; i++) {
		const char *base = strrchr(argv[i], '/');
		base = base ? base + 1 : argv[i];
		char dest[4096];
		snprintf(dest, sizeof(dest), "%s/%s", argv[3], base);
		if (distill)
			distill_one(argv[i], dest, vmlinux);
		else
			reconcile_one(argv[i], dest, vmlinux);
	}
	int dfd = open(argv[3], O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	btf__free(vmlinux);
	return 0;
}
