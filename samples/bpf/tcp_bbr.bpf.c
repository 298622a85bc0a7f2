// SPDX-License-Identifier: GPL-2.0
/*
 * struct bbr and enum bbr_mode exist only in the tcp_bbr module's BTF: bitfield reads of a
 * module-only struct, the module's enum, and the vmlinux struct that holds the private area
 * (inet_connection_sock.icsk_ca_priv).
 */
#include "core.h"

char LICENSE[] SEC("license") = "GPL";

__u64 out[64];

struct bbr {
	__u32 min_rtt_us;
	__u64 cycle_mstamp;
	__u32 mode:3, prev_ca_state:3, packet_conservation:1, round_start:1;
	__u32 lt_rtt_cnt:7;
	__u32 pacing_gain:10, cwnd_gain:10;
	__u32 ack_epoch_acked:20;
} __core;

struct inet_connection_sock {
	__u64 icsk_ca_priv[13];
} __core;

enum bbr_mode {
	BBR_STARTUP,
	BBR_DRAIN,
	BBR_PROBE_BW,
	BBR_PROBE_RTT,
};

SEC("kprobe/bbr_main")
int bbr_state(struct inet_connection_sock *icsk)
{
	struct bbr *bbr = (void *)icsk + field_info(icsk->icsk_ca_priv, FIELD_BYTE_OFFSET);

	out[0] = core_read_bitfield(bbr, mode);
	out[1] = core_read_bitfield(bbr, lt_rtt_cnt);
	out[2] = core_read_bitfield(bbr, cwnd_gain);
	out[3] = core_read_bitfield(bbr, ack_epoch_acked);
	out[4] = bbr->min_rtt_us;
	out[5] = field_info(bbr->cycle_mstamp, FIELD_BYTE_OFFSET);
	return 0;
}

SEC("kprobe/bbr_main")
int bbr_types(struct inet_connection_sock *icsk)
{
	out[10] = type_info(struct bbr, TYPE_SIZE);
	out[11] = enum_info(enum bbr_mode, BBR_PROBE_RTT, ENUMVAL_VALUE);
	out[12] = type_info(enum bbr_mode, TYPE_MATCHES);
	out[13] = field_info(icsk->icsk_ca_priv, FIELD_BYTE_SIZE);
	return 0;
}
