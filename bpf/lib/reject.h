/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Refusing a connection to a service without endpoints: the packet is
 * rewritten in place into a TCP RST or an ICMP port unreachable and sent back
 * out of the interface it came in on. */
#ifndef SKIFF_LIB_REJECT_H
#define SKIFF_LIB_REJECT_H

#include "common.h"
#include "csum.h"

struct pseudo4 {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
};

struct unreach_body {
	struct icmp4 icmp;
	struct iphdr orig_ip;   /* the refused packet's IP header ... */
	struct udphdr orig_udp; /* ... and its first 8 bytes */
};

/* store_eth_ip writes the Ethernet and IPv4 headers of a built reply. */
static __always_inline int store_eth_ip(struct __sk_buff *skb, const struct ethhdr *eth,
					const struct iphdr *ip)
{
	if (bpf_skb_store_bytes(skb, 0, eth, sizeof(*eth), 0) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, ETH_LEN, ip, sizeof(*ip), 0);
}

static __always_inline void swap_eth(struct ethhdr *dst, const struct ethhdr *src)
{
	__builtin_memcpy(dst->h_dest, src->h_source, ETH_ALEN);
	__builtin_memcpy(dst->h_source, src->h_dest, ETH_ALEN);
	dst->h_proto = src->h_proto;
}

static __always_inline void fill_ip(struct iphdr *ip, __u8 proto, __u16 tot_len, __be32 saddr,
				    __be32 daddr)
{
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000); /* DF */
	ip->ttl = 64;
	ip->protocol = proto;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = 0;
	ip->check = csum_fold32(bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0));
}

/* reject_tcp answers a TCP segment with an RST (RFC 9293 3.10.7.1). The
 * caller guarantees ihl == 5 and that the segment carries no RST. */
static __always_inline int reject_tcp(struct __sk_buff *skb, const struct ethhdr *eth,
				      const struct iphdr *ip, const struct tcphdr *tcp)
{
	struct {
		struct pseudo4 ph;
		struct tcphdr tcp;
	} c = {};
	struct ethhdr oeth = {};
	struct iphdr oip = {};
	struct tcphdr otcp = {};
	__u32 seg_len = bpf_ntohs(ip->tot_len) - sizeof(*ip) - tcp->doff * 4;

	if (tcp->syn)
		seg_len++;
	if (tcp->fin)
		seg_len++;
	swap_eth(&oeth, eth);
	fill_ip(&oip, IPPROTO_TCP, sizeof(oip) + sizeof(otcp), ip->daddr, ip->saddr);
	otcp.source = tcp->dest;
	otcp.dest = tcp->source;
	otcp.doff = 5;
	otcp.rst = 1;
	if (tcp->ack) {
		otcp.seq = tcp->ack_seq;
	} else {
		otcp.ack = 1;
		otcp.ack_seq = bpf_htonl(bpf_ntohl(tcp->seq) + seg_len);
	}
	c.ph.saddr = oip.saddr;
	c.ph.daddr = oip.daddr;
	c.ph.proto = IPPROTO_TCP;
	c.ph.len = bpf_htons(sizeof(otcp));
	c.tcp = otcp;
	otcp.check = csum_fold32(bpf_csum_diff(0, 0, (__be32 *)&c, sizeof(c), 0));

	if (bpf_skb_change_tail(skb, ETH_LEN + sizeof(oip) + sizeof(otcp), 0) < 0)
		return -1;
	if (store_eth_ip(skb, &oeth, &oip) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_LEN + sizeof(oip), &otcp, sizeof(otcp), 0) < 0)
		return -1;
	return bpf_redirect(skb->ifindex, 0);
}

/* reject_udp answers a UDP datagram with ICMP port unreachable carrying the
 * datagram's IP header and first 8 bytes (RFC 792). ihl == 5 is guaranteed. */
static __always_inline int reject_udp(struct __sk_buff *skb, const struct ethhdr *eth,
				      const struct iphdr *ip, const struct udphdr *udp)
{
	struct ethhdr oeth = {};
	struct iphdr oip = {};
	struct unreach_body b = {};
	const __u32 grow = sizeof(struct iphdr) + sizeof(struct icmp4);

	swap_eth(&oeth, eth);
	fill_ip(&oip, IPPROTO_ICMP, sizeof(oip) + sizeof(b), ip->daddr, ip->saddr);
	b.icmp.type = ICMP_DEST_UNREACH;
	b.icmp.code = ICMP_PORT_UNREACH;
	b.orig_ip = *ip;
	b.orig_udp = *udp;
	b.icmp.checksum = csum_fold32(bpf_csum_diff(0, 0, (__be32 *)&b, sizeof(b), 0));

	/* Keep only Ethernet + original IP + 8 bytes, then open room for the
	 * new IP and ICMP headers right after the Ethernet header. */
	if (bpf_skb_change_tail(skb, sizeof(struct ethhdr) + sizeof(*ip) + sizeof(*udp), 0) < 0)
		return -1;
	if (bpf_skb_adjust_room(skb, grow, BPF_ADJ_ROOM_MAC, 0) < 0)
		return -1;
	if (store_eth_ip(skb, &oeth, &oip) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_LEN + sizeof(oip), &b, sizeof(b), 0) < 0)
		return -1;
	return bpf_redirect(skb->ifindex, 0);
}

#endif
