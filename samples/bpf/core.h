/* SPDX-License-Identifier: MIT */
/*
 * Minimal CO-RE helpers for the modbtf sample BPF programs: only clang builtins, no vmlinux.h,
 * no libbpf headers. Relocation kinds are libbpf's enum bpf_core_relo_kind.
 */
#ifndef MODBTF_SAMPLES_CORE_H
#define MODBTF_SAMPLES_CORE_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __core __attribute__((preserve_access_index))

/* __builtin_preserve_field_info() kinds */
#define FIELD_BYTE_OFFSET 0
#define FIELD_BYTE_SIZE 1
#define FIELD_EXISTS 2
#define FIELD_SIGNED 3
#define FIELD_LSHIFT_U64 4
#define FIELD_RSHIFT_U64 5
/* __builtin_btf_type_id() kinds */
#define TYPE_ID_LOCAL 0
#define TYPE_ID_TARGET 1
/* __builtin_preserve_type_info() kinds */
#define TYPE_EXISTS 0
#define TYPE_SIZE 1
#define TYPE_MATCHES 2
/* __builtin_preserve_enum_value() kinds */
#define ENUMVAL_EXISTS 0
#define ENUMVAL_VALUE 1

static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
static __u64 (*bpf_get_current_task)(void) = (void *)35;

#define field_info(field, kind) __builtin_preserve_field_info(field, kind)
#define type_info(type, kind) __builtin_preserve_type_info(*(typeof(type) *)0, kind)
#define type_id(type, kind) __builtin_btf_type_id(*(typeof(type) *)0, kind)
#define enum_info(enum_type, value, kind) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)value, kind)

/* Read a field through bpf_probe_read_kernel; the address computation carries the relocation. */
#define core_read(dst, src) \
	bpf_probe_read_kernel((void *)(dst), sizeof(*(dst)), (const void *)__builtin_preserve_access_index(&(src)))

/* libbpf's BPF_CORE_READ_BITFIELD_PROBED, written out: byte offset + size + shifts + signedness. */
#define core_read_bitfield(s, field) ({                                              \
	unsigned long long __v = 0;                                                  \
	unsigned int __off = field_info(((s)->field), FIELD_BYTE_OFFSET);            \
	unsigned int __sz = field_info(((s)->field), FIELD_BYTE_SIZE);               \
	const void *__p = (const void *)(s) + __off;                                 \
	bpf_probe_read_kernel((void *)&__v, __sz, __p);                                \
	__v <<= field_info(((s)->field), FIELD_LSHIFT_U64);                          \
	if (field_info(((s)->field), FIELD_SIGNED))                                  \
		__v = ((long long)__v) >> field_info(((s)->field), FIELD_RSHIFT_U64); \
	else                                                                         \
		__v = __v >> field_info(((s)->field), FIELD_RSHIFT_U64);             \
	__v;                                                                         \
})

#endif
