// SPDX-License-Identifier: GPL-2.0
/*
 * Anonymous members and anonymous types on the local side: sk_buff declared with the kernel's
 * anonymous unions and structs (the access string walks through them; libbpf matches only the
 * named members), and relocations rooted at an anonymous struct or enum, which libbpf refuses
 * (no candidate search without a name) except TYPE_ID_LOCAL.
 */
#include "core.h"

char LICENSE[] SEC("license") = "GPL";

__u64 out[64];

struct net_device;

struct sk_buff {
	union {
		struct {
			struct sk_buff *next;
			struct sk_buff *prev;
			union {
				struct net_device *dev;
				unsigned long dev_scratch;
			};
		};
		struct {
			unsigned long rb_parent_color;
		} rbnode;
	};
	union {
		struct {
			__u16 inner_transport_header;
		};
		__u32 mark;
	};
} __core;

struct {
	int a;
	int b;
} __core anon_struct_var;

enum {
	MODBTF_ANON_ONE = 1,
} anon_enum_var;

SEC("kprobe/kfree_skb_reason")
int anon_members(struct sk_buff *skb)
{
	out[0] = field_info(skb->dev, FIELD_BYTE_OFFSET);
	out[1] = field_info(skb->dev_scratch, FIELD_BYTE_SIZE);
	out[2] = field_info(skb->prev, FIELD_BYTE_OFFSET);
	out[3] = field_info(skb->rbnode, FIELD_EXISTS);
	out[4] = field_info(skb->mark, FIELD_BYTE_OFFSET);
	return 0;
}

SEC("kprobe/do_nanosleep")
int anon_root_local_id(void *ctx)
{
	out[10] = type_id(anon_struct_var, TYPE_ID_LOCAL);
	return 0;
}

SEC("kprobe/do_nanosleep")
int anon_root_field(void *ctx)
{
	out[11] = field_info(anon_struct_var.b, FIELD_BYTE_OFFSET);
	return 0;
}

SEC("kprobe/do_nanosleep")
int anon_root_enum(void *ctx)
{
	out[12] = enum_info(anon_enum_var, MODBTF_ANON_ONE, ENUMVAL_VALUE);
	return 0;
}
