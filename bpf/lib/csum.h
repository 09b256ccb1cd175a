/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Checksum helpers: incremental rewrites through the kernel helpers (which
 * also handle CHECKSUM_PARTIAL skbs) and full recomputation for headers the
 * program builds itself. */
#ifndef SKIFF_LIB_CSUM_H
#define SKIFF_LIB_CSUM_H

#include "common.h"

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* rewrite_addr stores a new IPv4 address at addr_off and fixes the IP header
 * checksum and, when l4_csum_off >= 0, the L4 checksum (pseudo header). */
static __always_inline int rewrite_addr(struct __sk_buff *skb, int addr_off, int ip_csum_off,
					int l4_csum_off, __u64 l4_flags, __be32 old, __be32 new)
{
	if (old == new)
		return 0;
	if (l4_csum_off >= 0 &&
	    bpf_l4_csum_replace(skb, l4_csum_off, old, new, l4_flags | BPF_F_PSEUDO_HDR | 4) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, ip_csum_off, old, new, 4) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, &new, 4, 0);
}

/* rewrite_port stores a new L4 port and fixes the L4 checksum. */
static __always_inline int rewrite_port(struct __sk_buff *skb, int port_off, int l4_csum_off,
					__u64 l4_flags, __be16 old, __be16 new)
{
	if (old == new)
		return 0;
	if (l4_csum_off >= 0 &&
	    bpf_l4_csum_replace(skb, l4_csum_off, old, new, l4_flags | 2) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, port_off, &new, 2, 0);
}

#endif
