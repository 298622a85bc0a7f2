// SPDX-License-Identifier: GPL-2.0
/*
 * Field relocations against vmlinux types: FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS,
 * FIELD_SIGNED, FIELD_LSHIFT_U64, FIELD_RSHIFT_U64 on plain members, pointer chains, arrays
 * (one index, nested arrays of structs, a local 2-D array against a flat kernel array), bitfields
 * (unsigned in sk_buff, signed in printf_spec on 6.12, plain members on 6.18), members reached
 * through anonymous unions/structs, and ___flavor names.
 */
#include "core.h"

char LICENSE[] SEC("license") = "GPL";

__u64 out[64];

struct task_struct {
	int pid;
	int tgid;
	unsigned int flags;
	int prio;
	char comm[16];
	struct task_struct *real_parent;
	unsigned int sched_reset_on_fork:1;
	unsigned int in_execve:1;
} __core;

/* ___flavor: the same kernel type under local names that differ only in the suffix. */
struct task_struct___old {
	long state;
} __core;

struct task_struct___new {
	unsigned int __state;
} __core;

/* comm[16] seen as char[2][8]: the kernel's BTF has no nested array there. */
struct task_struct___2d {
	char comm[2][8];
} __core;

struct list_head {
	struct list_head *next;
	struct list_head *prev;
} __core;

struct free_area {
	struct list_head free_list[6];
	unsigned long nr_free;
} __core;

struct zone {
	long lowmem_reserve[5];
	const char *name;
	struct free_area free_area[11];
} __core;

struct net_device;

/* Flat local view: in the kernel dev, next and protocol sit inside anonymous unions/structs. */
struct sk_buff {
	struct sk_buff *next;
	struct net_device *dev;
	unsigned int len;
	__u16 protocol;
	__u32 mark;
	__u8 cloned:1, nohdr:1, fclone:2, peeked:1, head_frag:1, pfmemalloc:1, pp_recycle:1;
} __core;

/* 6.12: type:8, field_width:24 (signed), ... precision:16 (signed); 6.18: plain members. */
struct printf_spec {
	unsigned int type:8;
	int field_width:24;
	unsigned int flags:8;
	unsigned int base:8;
	int precision:16;
} __core;

SEC("kprobe/do_nanosleep")
int task_fields(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	int pid = 0, ppid = 0;
	struct task_struct *parent = 0;
	char c = 0;

	/* LDX relocations: direct loads through a CO-RE pointer */
	out[0] = t->flags;
	out[1] = t->prio;
	/* ALU relocations through bpf_probe_read_kernel(&t->field) */
	core_read(&pid, t->pid);
	core_read(&parent, t->real_parent);
	core_read(&ppid, parent->tgid);
	core_read(&c, t->comm[3]);
	out[2] = pid + ppid + c;
	out[3] = field_info(t->comm, FIELD_BYTE_OFFSET);
	out[4] = field_info(t->comm, FIELD_BYTE_SIZE);
	out[5] = field_info(t->pid, FIELD_SIGNED);
	out[6] = field_info(t->flags, FIELD_SIGNED);
	out[7] = field_info(t->real_parent, FIELD_BYTE_SIZE);
	out[8] = field_info(t->comm[15], FIELD_BYTE_OFFSET);
	return 0;
}

SEC("kprobe/do_nanosleep")
int task_bitfields(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	out[10] = core_read_bitfield(t, in_execve);
	out[11] = field_info(t->sched_reset_on_fork, FIELD_EXISTS);
	return 0;
}

SEC("kprobe/do_nanosleep")
int task_flavors(void *ctx)
{
	struct task_struct___old *o = (void *)bpf_get_current_task();
	struct task_struct___new *n = (void *)o;
	struct task_struct___2d *d = (void *)o;

	out[12] = field_info(o->state, FIELD_EXISTS);
	out[13] = field_info(n->__state, FIELD_EXISTS);
	out[14] = field_info(n->__state, FIELD_BYTE_OFFSET);
	out[15] = field_info(n->__state, FIELD_BYTE_SIZE);
	out[16] = field_info(d->comm[1][3], FIELD_EXISTS);
	out[17] = field_info(d->comm, FIELD_EXISTS);
	return 0;
}

SEC("kprobe/__zone_watermark_ok")
int zone_arrays(struct zone *z)
{
	out[20] = field_info(z->free_area[3].free_list[2].prev, FIELD_BYTE_OFFSET);
	out[21] = field_info(z->free_area[10].nr_free, FIELD_BYTE_OFFSET);
	out[22] = field_info(z->free_area, FIELD_BYTE_SIZE);
	out[23] = field_info(z->lowmem_reserve[4], FIELD_BYTE_OFFSET);
	out[24] = field_info(z->free_area[3], FIELD_BYTE_SIZE);
	out[25] = z->free_area[2].nr_free;
	return 0;
}

SEC("kprobe/kfree_skb_reason")
int skb_anon(struct sk_buff *skb)
{
	struct net_device *dev = 0;

	core_read(&dev, skb->dev);
	out[30] = (unsigned long)dev;
	out[31] = field_info(skb->next, FIELD_BYTE_OFFSET);
	out[32] = field_info(skb->protocol, FIELD_BYTE_OFFSET);
	out[33] = field_info(skb->mark, FIELD_BYTE_OFFSET);
	out[34] = skb->len;
	return 0;
}

SEC("kprobe/kfree_skb_reason")
int skb_bitfields(struct sk_buff *skb)
{
	out[35] = core_read_bitfield(skb, fclone);
	out[36] = core_read_bitfield(skb, pp_recycle);
	out[37] = field_info(skb->cloned, FIELD_BYTE_SIZE);
	return 0;
}

SEC("kprobe/vsnprintf")
int printf_spec_bitfields(struct printf_spec *spec)
{
	out[40] = core_read_bitfield(spec, field_width);
	out[41] = core_read_bitfield(spec, precision);
	out[42] = core_read_bitfield(spec, base);
	return 0;
}
