/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Node-local DNS steering, included by lb.c. Stateless: no conntrack entry
 * is read for UDP or written for anything, so parallel A/AAAA queries from
 * one socket cannot race on a conntrack insertion (Kubernetes issue 56903).
 *
 * lb_ingress (packets from pods): UDP/TCP to (cluster_ip, 53) gets its
 * destination rewritten to local_ip while the heartbeat is fresh. When it is
 * stale, the packet continues on the ordinary Service path (the kube-dns
 * Service balanced with conntrack).
 * lb_egress (packets to pods): UDP/TCP from (local_ip, 53) gets its source
 * rewritten back to cluster_ip, fresh heartbeat or not (replies in flight).
 * Go side: bpf/lb/dns.go; writer of the config: dns/nodelocal.
 * lb.c includes this file after its maps (dns_steer reads lb_ct). */
#ifndef SKIFF_LB_DNS_H
#define SKIFF_LB_DNS_H

#include "../lib/common.h"
#include "../lib/csum.h"
#include "../lib/lb.h"

#define DNS_PORT 53
#define DNS_DEFAULT_MAX_AGE_NS (3ULL * 1000000000ULL)

/* The single entry (key 0) of lb_dns. Addresses in network byte order. */
struct dns_cfg {
	__be32 cluster_ip;  /* cluster DNS Service IP pods query; 0: steering off */
	__be32 local_ip;    /* node-local DNS server address; 0: steering off */
	__u64 heartbeat_ns; /* CLOCK_MONOTONIC ns of the server's last heartbeat; 0: stopped */
	__u64 max_age_ns;   /* steer while now - heartbeat < max_age_ns; 0: 3 s */
};

/* Per-CPU counters in lb_dns_stats. */
enum dns_stat {
	DNS_STAT_STEERED = 0,  /* query rewritten to the node-local server */
	DNS_STAT_REPLY,        /* reply source rewritten back to the cluster IP */
	DNS_STAT_FALLBACK,     /* query while the heartbeat is stale: Service path */
	DNS_STAT_TCP_KEPT,     /* TCP segment of a Service-path connection left on it */
	DNS_STAT_DROP_REWRITE, /* rewrite failed: dropped */
	DNS_STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct dns_cfg);
	__uint(max_entries, 1);
} lb_dns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, DNS_STAT_MAX);
} lb_dns_stats SEC(".maps");

const struct dns_cfg *unused_dns_cfg __attribute__((unused));
const enum dns_stat *unused_dns_stat __attribute__((unused));

static __always_inline void dns_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&lb_dns_stats, &stat);

	if (v)
		*v += 1;
}

static __always_inline struct dns_cfg *dns_config(void)
{
	__u32 zero = 0;
	struct dns_cfg *c = bpf_map_lookup_elem(&lb_dns, &zero);

	if (!c || !c->cluster_ip || !c->local_ip)
		return 0;
	return c;
}

static __always_inline int dns_fresh(const struct dns_cfg *c)
{
	__u64 hb = *(volatile const __u64 *)&c->heartbeat_ns;
	__u64 max_age = c->max_age_ns ? c->max_age_ns : DNS_DEFAULT_MAX_AGE_NS;

	/* A heartbeat from the future (now - hb wraps) counts as stale. */
	return hb != 0 && bpf_ktime_get_ns() - hb < max_age;
}

/* dns_rewrite replaces the address at addr_off (IP_SRC_OFF or IP_DST_OFF);
 * l4 < 0 means a non-first fragment (no L4 header: only the IP checksum). */
static __always_inline int dns_rewrite(struct __sk_buff *skb, __u8 proto, int l4_off, int l4,
				       int addr_off, __be32 old, __be32 new, __u32 stat)
{
	int csum_off = -1;
	__u64 flags = 0;

	if (l4 >= 0) {
		if (proto == IPPROTO_TCP) {
			csum_off = l4_off + offsetof(struct tcphdr, check);
		} else {
			csum_off = l4_off + offsetof(struct udphdr, check);
			flags = BPF_F_MARK_MANGLED_0; /* a zero UDP checksum stays "none" */
		}
	}
	if (rewrite_addr(skb, addr_off, IP_CSUM_OFF, csum_off, flags, old, new) < 0) {
		dns_count(DNS_STAT_DROP_REWRITE);
		return TC_ACT_SHOT;
	}
	dns_count(stat);
	return TC_ACT_OK;
}

/* dns_steer handles a packet from a pod: a TC verdict when it was steered
 * (or dropped), -1 when it continues on the ordinary path. A UDP fragment
 * after the first carries no port; it is steered by address alone (the
 * cluster DNS IP serves nothing but DNS over UDP) so that it follows its
 * first fragment. */
static __always_inline int dns_steer(struct __sk_buff *skb, const struct iphdr *ip, int l4_off)
{
	struct dns_cfg *c;
	__be16 ports[2];
	__u8 tcp_flags = 0;
	int later_frag = (ip->frag_off & bpf_htons(IP_OFFSET)) != 0;

	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return -1;
	c = dns_config();
	if (!c || ip->daddr != c->cluster_ip)
		return -1;
	if (later_frag) {
		if (ip->protocol != IPPROTO_UDP)
			return -1;
	} else if (bpf_skb_load_bytes(skb, l4_off, ports, sizeof(ports)) < 0 ||
		   ports[1] != bpf_htons(DNS_PORT)) {
		return -1;
	}
	if (!dns_fresh(c)) {
		dns_count(DNS_STAT_FALLBACK);
		return -1;
	}
	if (ip->protocol == IPPROTO_TCP) {
		/* A connection opened on the Service path while the server was
		 * down stays there (a read-only look-up, nothing is inserted);
		 * a new connection (SYN) is steered. */
		struct ct_key k = {.src = ip->saddr, .dst = ip->daddr, .sport = ports[0],
				   .dport = ports[1], .proto = IPPROTO_TCP, .dir = CT_FORWARD};

		if (bpf_skb_load_bytes(skb, l4_off + 13, &tcp_flags, 1) < 0)
			return -1;
		if ((tcp_flags & 0x12) != 0x02 && bpf_map_lookup_elem(&lb_ct, &k)) {
			dns_count(DNS_STAT_TCP_KEPT);
			return -1;
		}
	}
	return dns_rewrite(skb, ip->protocol, l4_off, later_frag ? -1 : 0, IP_DST_OFF, ip->daddr,
			   c->local_ip, DNS_STAT_STEERED);
}

/* dns_unsteer handles a packet to a pod: replies of the node-local server
 * get the cluster DNS IP back as their source. Fragments after the first
 * (large UDP answers) are matched by address alone: nothing but the DNS
 * server sends from local_ip. */
static __always_inline int dns_unsteer(struct __sk_buff *skb, const struct iphdr *ip, int l4_off)
{
	struct dns_cfg *c;
	__be16 sport;
	int later_frag = (ip->frag_off & bpf_htons(IP_OFFSET)) != 0;

	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return -1;
	c = dns_config();
	if (!c || ip->saddr != c->local_ip)
		return -1;
	if (later_frag) {
		if (ip->protocol != IPPROTO_UDP)
			return -1;
	} else if (bpf_skb_load_bytes(skb, l4_off, &sport, sizeof(sport)) < 0 ||
		   sport != bpf_htons(DNS_PORT)) {
		return -1;
	}
	return dns_rewrite(skb, ip->protocol, l4_off, later_frag ? -1 : 0, IP_SRC_OFF, ip->saddr,
			   c->cluster_ip, DNS_STAT_REPLY);
}

#endif
