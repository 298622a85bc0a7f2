// SPDX-License-Identifier: GPL-2.0
/*
 * Relocations that find no candidate: a struct the kernel does not have, a member the kernel's
 * struct does not have, a member of the wrong kind (a struct read as an int) and a type used
 * through a pointer member. FIELD_EXISTS gives 0; offsets and sizes poison the instruction
 * (libbpf leaves a call to an invalid helper; the program loads only if that code is dead).
 */
#include "core.h"

char LICENSE[] SEC("license") = "GPL";

__u64 out[64];

struct modbtf_no_such_struct {
	int a;
	int b;
} __core;

struct task_struct___missing {
	int modbtf_no_such_member;
	int pid;
	int se; /* a struct sched_entity in the kernel */
} __core;

SEC("kprobe/do_nanosleep")
int no_struct(struct modbtf_no_such_struct *s)
{
	out[0] = field_info(s->b, FIELD_EXISTS);
	out[1] = field_info(s->b, FIELD_BYTE_OFFSET);
	out[2] = s->a;
	return 0;
}

SEC("kprobe/do_nanosleep")
int no_member(struct task_struct___missing *t)
{
	out[10] = field_info(t->modbtf_no_such_member, FIELD_EXISTS);
	out[11] = field_info(t->modbtf_no_such_member, FIELD_BYTE_SIZE);
	out[12] = t->modbtf_no_such_member;
	out[13] = field_info(t->pid, FIELD_BYTE_OFFSET);
	out[14] = field_info(t->se, FIELD_EXISTS);
	out[15] = field_info(t->se, FIELD_BYTE_OFFSET);
	return 0;
}
