/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Skiff BPF common includes and small packet definitions. */
#ifndef SKIFF_LIB_COMMON_H
#define SKIFF_LIB_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* <linux/icmp.h> pulls in libc socket headers, so the two ICMP header shapes
 * Skiff needs are spelt out here. */
struct icmp4 {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest; /* unused / next-hop MTU for frag-needed */
};

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PORT_UNREACH 3

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

#define ETH_LEN ((int)sizeof(struct ethhdr))
#define IP_CSUM_OFF (ETH_LEN + (int)offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_LEN + (int)offsetof(struct iphdr, saddr))
#define IP_DST_OFF (ETH_LEN + (int)offsetof(struct iphdr, daddr))

#ifndef offsetof
#define offsetof(t, m) __builtin_offsetof(t, m)
#endif

#endif
