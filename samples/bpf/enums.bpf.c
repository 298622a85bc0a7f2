// SPDX-License-Identifier: GPL-2.0
/*
 * Enum relocations: ENUMVAL_EXISTS and ENUMVAL_VALUE on 32-bit enums, on enum64
 * (perf_callchain_context, hmm_pfn_flags: gone in 6.18), a local enum64 against a kernel 32-bit
 * enum and a local 32-bit enum against a kernel enum64 (kinds mix), ___flavor names, and
 * enumerators or enums the kernel does not have.
 */
#include "core.h"

char LICENSE[] SEC("license") = "GPL";

__u64 out[64];

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
	PIDTYPE_MODBTF_NONE,
};

enum bpf_map_type___flavor {
	BPF_MAP_TYPE_RINGBUF___flavor = 1,
	BPF_MAP_TYPE_ARENA___flavor = 2,
	BPF_MAP_TYPE_INSN_ARRAY___flavor = 3,
};

/* enum64 locally and in the kernel */
enum perf_callchain_context {
	PERF_CONTEXT_HV = 0xffffffffffffffe0ULL,
	PERF_CONTEXT_USER = 0xfffffffffffffe00ULL,
	PERF_CONTEXT_MAX = 0xfffffffffffff001ULL,
};

/* enum64 in 6.12 only */
enum hmm_pfn_flags {
	HMM_PFN_VALID = 1ULL << 63,
	HMM_PFN_ORDER_SHIFT = 56,
};

/* local 32-bit enum, kernel enum64 */
enum perf_callchain_context___32 {
	PERF_CONTEXT_KERNEL___32 = 1,
};

/* local enum64, kernel 32-bit enum */
enum netdev_priv_flags___64 {
	IFF_BONDING___64 = 1ULL << 40,
	IFF_MODBTF_NONE___64 = 1ULL << 41,
};

enum modbtf_no_such_enum {
	MODBTF_NO_SUCH_ENUMERATOR = 7,
};

SEC("kprobe/do_nanosleep")
int enum32(void *ctx)
{
	out[0] = enum_info(enum pid_type, PIDTYPE_SID, ENUMVAL_EXISTS);
	out[1] = enum_info(enum pid_type, PIDTYPE_SID, ENUMVAL_VALUE);
	out[2] = enum_info(enum pid_type, PIDTYPE_MAX, ENUMVAL_VALUE);
	out[3] = enum_info(enum pid_type, PIDTYPE_MODBTF_NONE, ENUMVAL_EXISTS);
	out[4] = enum_info(enum pid_type, PIDTYPE_MODBTF_NONE, ENUMVAL_VALUE);
	out[5] = enum_info(enum bpf_map_type___flavor, BPF_MAP_TYPE_RINGBUF___flavor, ENUMVAL_VALUE);
	out[6] = enum_info(enum bpf_map_type___flavor, BPF_MAP_TYPE_ARENA___flavor, ENUMVAL_EXISTS);
	out[7] = enum_info(enum bpf_map_type___flavor, BPF_MAP_TYPE_INSN_ARRAY___flavor, ENUMVAL_EXISTS);
	out[8] = enum_info(enum modbtf_no_such_enum, MODBTF_NO_SUCH_ENUMERATOR, ENUMVAL_EXISTS);
	out[9] = enum_info(enum modbtf_no_such_enum, MODBTF_NO_SUCH_ENUMERATOR, ENUMVAL_VALUE);
	return 0;
}

SEC("kprobe/do_nanosleep")
int enum64(void *ctx)
{
	out[10] = enum_info(enum perf_callchain_context, PERF_CONTEXT_USER, ENUMVAL_VALUE);
	out[11] = enum_info(enum perf_callchain_context, PERF_CONTEXT_MAX, ENUMVAL_EXISTS);
	out[12] = enum_info(enum hmm_pfn_flags, HMM_PFN_VALID, ENUMVAL_EXISTS);
	out[13] = enum_info(enum hmm_pfn_flags, HMM_PFN_VALID, ENUMVAL_VALUE);
	out[14] = enum_info(enum hmm_pfn_flags, HMM_PFN_ORDER_SHIFT, ENUMVAL_VALUE);
	out[15] = enum_info(enum perf_callchain_context___32, PERF_CONTEXT_KERNEL___32, ENUMVAL_VALUE);
	out[16] = enum_info(enum netdev_priv_flags___64, IFF_BONDING___64, ENUMVAL_VALUE);
	out[17] = enum_info(enum netdev_priv_flags___64, IFF_MODBTF_NONE___64, ENUMVAL_EXISTS);
	out[18] = type_info(enum hmm_pfn_flags, TYPE_EXISTS);
	out[19] = type_info(enum perf_callchain_context___32, TYPE_MATCHES);
	return 0;
}
