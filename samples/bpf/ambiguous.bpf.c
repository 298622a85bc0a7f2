// SPDX-License-Identifier: GPL-2.0
/*
 * Ambiguity: the kernel has several structs of one name (console: 280 and 40 bytes; irq_info:
 * 136, 32 and 16 bytes; syscall_tp_t: 24 and 64 bytes; 6.18 keeps console and syscall_tp_t
 * twice, irq_info as 32 and 16 bytes). Candidates that disagree make libbpf
 * refuse the relocation (and the whole load); candidates that agree are fine. One relocation per
 * program, so each verdict stands on its own.
 */
#include "core.h"

char LICENSE[] SEC("license") = "GPL";

__u64 out[64];

struct console {
	char name[16];
} __core;

struct irq_info {
	int irq;
} __core;

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

struct syscall_tp_t {
	struct trace_entry ent;
	int syscall_nr;
	long ret;
} __core;

/* struct console is 280 or 40 bytes: relocation decision ambiguity */
SEC("kprobe/do_nanosleep")
int console_size(void *ctx)
{
	out[0] = type_info(struct console, TYPE_SIZE);
	return 0;
}

/* only the 280-byte console has name: one candidate */
SEC("kprobe/do_nanosleep")
int console_name(struct console *c)
{
	out[1] = field_info(c->name, FIELD_BYTE_OFFSET);
	return 0;
}

/* irq is an int at offset 96 in one irq_info and at 16 in another: field offset ambiguity */
SEC("kprobe/do_nanosleep")
int irq_offset(struct irq_info *i)
{
	out[2] = field_info(i->irq, FIELD_BYTE_OFFSET);
	return 0;
}

/* all candidates exist: same answer */
SEC("kprobe/do_nanosleep")
int console_exists(void *ctx)
{
	out[3] = type_info(struct console, TYPE_EXISTS);
	return 0;
}

/* syscall_nr is at offset 8 in both syscall_tp_t; ret only in one */
SEC("kprobe/do_nanosleep")
int syscall_tp(struct syscall_tp_t *s)
{
	out[4] = field_info(s->syscall_nr, FIELD_BYTE_OFFSET);
	out[5] = field_info(s->ret, FIELD_EXISTS);
	out[6] = field_info(s->ret, FIELD_BYTE_OFFSET);
	return 0;
}

/* TYPE_MATCHES drops candidates that do not match, so it is never ambiguous; here none matches:
 * integer names are compared too, and clang's "unsigned short"/"long" are gcc's
 * "short unsigned int"/"long unsigned int" in the kernel's BTF */
SEC("kprobe/do_nanosleep")
int syscall_tp_matches(void *ctx)
{
	out[7] = type_info(struct syscall_tp_t, TYPE_MATCHES);
	return 0;
}
