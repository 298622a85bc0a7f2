// SPDX-License-Identifier: GPL-2.0
/*
 * Type relocations: TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES on
 * structs, unions, typedefs, enums and a ___flavor name, including types that match in name only
 * (TYPE_MATCHES false), a struct the kernel defines twice with the same layout prefix
 * (remap_data: several candidates, one answer) and a type the kernel does not have.
 */
#include "core.h"

char LICENSE[] SEC("license") = "GPL";

__u64 out[64];

struct task_struct {
	int pid;
} __core;

struct list_head {
	struct list_head *next;
	struct list_head *prev;
};

/* Same name, different shape: TYPE_EXISTS yes, TYPE_MATCHES no. */
struct list_head___bad {
	int next;
	long prev;
};

struct hlist_node {
	struct hlist_node *next;
	struct hlist_node **pprev;
};

typedef unsigned int u32;
typedef int pid_t;
typedef unsigned long long pid_t___wrong;

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
};

enum pid_type___short {
	PIDTYPE_PID___short,
};

union bpf_attr {
	__u32 map_type;
};

typedef struct {
	unsigned long pgprot;
} pgprot_t;

/* 6.12 has two structs of this name (32 and 104 bytes); prot is a pgprot_t at offset 16 in both:
 * two candidates, one answer. */
struct remap_data {
	pgprot_t prot;
} __core;

struct modbtf_no_such_type {
	int a;
};

SEC("kprobe/do_nanosleep")
int type_ids(void *ctx)
{
	out[0] = type_id(struct task_struct, TYPE_ID_LOCAL);
	out[1] = type_id(struct task_struct, TYPE_ID_TARGET);
	out[2] = type_id(struct list_head, TYPE_ID_TARGET);
	out[3] = type_id(u32, TYPE_ID_TARGET);
	out[4] = type_id(enum pid_type, TYPE_ID_TARGET);
	out[5] = type_id(struct modbtf_no_such_type, TYPE_ID_LOCAL);
	out[6] = type_id(struct modbtf_no_such_type, TYPE_ID_TARGET);
	out[7] = type_id(union bpf_attr, TYPE_ID_TARGET);
	return 0;
}

SEC("kprobe/do_nanosleep")
int type_exists_size(void *ctx)
{
	out[10] = type_info(struct task_struct, TYPE_EXISTS);
	out[11] = type_info(struct task_struct, TYPE_SIZE);
	out[12] = type_info(struct list_head___bad, TYPE_EXISTS);
	out[13] = type_info(struct list_head___bad, TYPE_SIZE);
	out[14] = type_info(u32, TYPE_SIZE);
	out[15] = type_info(pid_t, TYPE_EXISTS);
	out[16] = type_info(enum pid_type, TYPE_SIZE);
	out[17] = type_info(union bpf_attr, TYPE_SIZE);
	out[18] = type_info(struct modbtf_no_such_type, TYPE_EXISTS);
	out[19] = type_info(struct modbtf_no_such_type, TYPE_SIZE);
	out[20] = type_info(struct remap_data, TYPE_EXISTS);
	return 0;
}

SEC("kprobe/do_nanosleep")
int type_matches(void *ctx)
{
	out[30] = type_info(struct list_head, TYPE_MATCHES);
	out[31] = type_info(struct list_head___bad, TYPE_MATCHES);
	out[32] = type_info(struct hlist_node, TYPE_MATCHES);
	out[33] = type_info(u32, TYPE_MATCHES);
	out[34] = type_info(pid_t, TYPE_MATCHES);
	out[35] = type_info(pid_t___wrong, TYPE_MATCHES);
	out[36] = type_info(enum pid_type, TYPE_MATCHES);
	out[37] = type_info(enum pid_type___short, TYPE_MATCHES);
	out[38] = type_info(struct modbtf_no_such_type, TYPE_MATCHES);
	return 0;
}

SEC("kprobe/do_nanosleep")
int multi_candidates(struct remap_data *r)
{
	out[40] = field_info(r->prot, FIELD_BYTE_OFFSET);
	out[41] = field_info(r->prot, FIELD_EXISTS);
	out[42] = r->prot.pgprot;
	return 0;
}
