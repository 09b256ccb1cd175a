//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Skiff service load balancer: TC ingress program doing IPv4 Service
 * DNAT for TCP and UDP with connection tracking, reverse NAT of replies and
 * of ICMP errors, hairpin SNAT and refusal of services without endpoints.
 * Map layout: bpf/lib/lb.h. Go side: bpf/lb/maps.go, dataplane/. */
#include "../lib/common.h"
#include "../lib/csum.h"
#include "../lib/lb.h"
#include "../lib/reject.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Load-time configuration (set by the loader before load). */
volatile const __be32 cfg_hairpin_addr = 0;          /* SNAT source for hairpin flows; 0 = off */
volatile const __u32 cfg_ct_tcp_timeout_s = 21600;   /* established TCP idle timeout */
volatile const __u32 cfg_ct_udp_timeout_s = 60;      /* UDP idle timeout */
volatile const __u32 cfg_ct_closing_timeout_s = 10;  /* after FIN or RST */
volatile const __u32 cfg_maglev_seed = 0x5eed5eed;

/* Map sizes here are defaults; the loader overrides max_entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct svc_key);
	__type(value, struct svc_entry);
	__uint(max_entries, 65536);
} lb_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct slot_key);
	__type(value, __u32);
	__uint(max_entries, 262144);
} lb_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct backend);
	__uint(max_entries, 262144);
} lb_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct maglev_table);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} lb_maglev SEC(".maps");

/* A plain (preallocated) hash, not LRU: when it is full, new flows are
 * dropped and counted instead of evicting established ones. User space
 * removes expired entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(max_entries, 262144);
} lb_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct affinity_key);
	__type(value, struct affinity_entry);
	__uint(max_entries, 65536);
} lb_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, LB_STAT_MAX);
} lb_stats SEC(".maps");

/* Node-local DNS steering (lb_dns, lb_dns_stats): see dns.h. */
#include "dns.h"

/* Keep these types in BTF for bpf2go -type. */
const enum lb_stat *unused_lb_stat __attribute__((unused));
const enum svc_flags *unused_svc_flags __attribute__((unused));
const enum ct_dir *unused_ct_dir __attribute__((unused));
const enum ct_flags *unused_ct_flags __attribute__((unused));

#define NS_PER_SEC 1000000000ULL

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&lb_stats, &stat);

	if (v)
		*v += 1;
}

static __always_inline int drop(__u32 stat)
{
	count(stat);
	return TC_ACT_SHOT;
}

static __always_inline __u32 mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 flow_hash(const struct ct_key *k)
{
	__u32 h = mix32(k->src ^ cfg_maglev_seed);

	h = mix32(h ^ k->dst);
	h = mix32(h ^ (((__u32)k->sport << 16) | k->dport));
	return mix32(h ^ k->proto);
}

static __always_inline __u64 ct_timeout(__u8 proto, __u8 closing)
{
	if (closing)
		return cfg_ct_closing_timeout_s * NS_PER_SEC;
	if (proto == IPPROTO_TCP)
		return cfg_ct_tcp_timeout_s * NS_PER_SEC;
	return cfg_ct_udp_timeout_s * NS_PER_SEC;
}

/* pick_backend returns the backend id for a new flow of svc (0: none). */
static __always_inline __u32 pick_backend(const struct svc_entry *svc, const struct ct_key *tuple)
{
	if (svc->flags & SVC_F_MAGLEV) {
		__u32 key = (svc->id << 1) | (svc->gen & 1);
		struct maglev_table *t = bpf_map_lookup_elem(&lb_maglev, &key);
		__u32 idx = flow_hash(tuple) % LB_MAGLEV_M;

		if (!t)
			return 0;
		/* verifier workaround: the verifier does not bound a modulo
		 * result and clang drops the redundant check below unless the
		 * value is hidden behind an empty asm. */
		asm volatile("" : "+r"(idx));
		if (idx >= LB_MAGLEV_M)
			return 0;
		return t->ids[idx];
	}
	struct slot_key sk = {
		.svc_id = svc->id,
		.slot = bpf_get_prandom_u32() % svc->count,
		.gen = svc->gen & 1,
	};
	__u32 *id = bpf_map_lookup_elem(&lb_slots, &sk);

	return id ? *id : 0;
}

/* select_backend applies ClientIP affinity, then the service's algorithm. */
static __always_inline struct backend *select_backend(const struct svc_entry *svc,
						      const struct ct_key *tuple, __u32 *id_out)
{
	struct affinity_key ak = {.client = tuple->src, .svc_id = svc->id};
	__u64 now = bpf_ktime_get_ns();
	struct backend *be;
	__u32 id = 0;

	if (svc->flags & SVC_F_AFFINITY) {
		struct affinity_entry *ae = bpf_map_lookup_elem(&lb_affinity, &ak);

		if (ae && now - ae->last_used < (__u64)svc->affinity_timeout * NS_PER_SEC) {
			be = bpf_map_lookup_elem(&lb_backends, &ae->backend_id);
			if (be && be->svc_id == svc->id) {
				id = ae->backend_id;
				count(LB_STAT_AFFINITY_HIT);
			}
		}
	}
	if (!id)
		id = pick_backend(svc, tuple);
	if (!id)
		return 0;
	be = bpf_map_lookup_elem(&lb_backends, &id);
	if (!be)
		return 0;
	if (svc->flags & SVC_F_AFFINITY) {
		struct affinity_entry ae = {.last_used = now, .backend_id = id};

		bpf_map_update_elem(&lb_affinity, &ak, &ae, BPF_ANY);
	}
	*id_out = id;
	return be;
}

struct l4 {
	int off;          /* L4 header offset */
	int csum_off;     /* L4 checksum offset */
	__u64 csum_flags; /* extra bpf_l4_csum_replace flags */
	__u8 proto;
	__u8 tcp_flags;   /* byte 13 of the TCP header */
};

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

/* xlate rewrites (src, sport) and (dst, dport) of the packet. */
static __always_inline int xlate(struct __sk_buff *skb, const struct l4 *l, const struct ct_key *t,
				 __be32 src, __be16 sport, __be32 dst, __be16 dport)
{
	if (rewrite_addr(skb, IP_DST_OFF, IP_CSUM_OFF, l->csum_off, l->csum_flags, t->dst, dst) < 0 ||
	    rewrite_addr(skb, IP_SRC_OFF, IP_CSUM_OFF, l->csum_off, l->csum_flags, t->src, src) < 0 ||
	    rewrite_port(skb, l->off, l->csum_off, l->csum_flags, t->sport, sport) < 0 ||
	    rewrite_port(skb, l->off + 2, l->csum_off, l->csum_flags, t->dport, dport) < 0)
		return drop(LB_STAT_DROP_REWRITE);
	return TC_ACT_OK;
}

static __always_inline void ct_touch(struct ct_entry *ct, const struct l4 *l)
{
	if (l->tcp_flags & (TCPF_FIN | TCPF_RST))
		ct->flags |= CT_F_CLOSING;
	ct->expires = bpf_ktime_get_ns() + ct_timeout(l->proto, ct->flags & CT_F_CLOSING);
}

/* reply_key is the tuple the backend's replies to flow t carry. */
static __always_inline struct ct_key reply_key(const struct ct_key *t, const struct ct_entry *fwd)
{
	struct ct_key r = {
		.src = fwd->nat_addr,
		.dst = fwd->rev_addr,
		.sport = fwd->nat_port,
		.dport = fwd->rev_port,
		.proto = t->proto,
		.dir = CT_REPLY,
	};
	return r;
}

/* new_flow picks a backend for tuple t of svc and writes both CT entries;
 * fwd_out receives the forward entry. old (may be NULL) is the entry being
 * replaced when a flow's backend has gone. */
static __always_inline int new_flow(const struct svc_entry *svc, const struct ct_key *t,
				    const struct l4 *l, struct ct_entry *fwd_out,
				    const struct ct_entry *old)
{
	struct ct_entry fwd = {}, rev = {};
	struct ct_key rk;
	struct backend *be;
	__u32 id = 0;

	be = select_backend(svc, t, &id);
	if (!be)
		return LB_STAT_DROP_NO_BACKEND;
	fwd.nat_addr = be->addr;
	fwd.nat_port = be->port;
	fwd.rev_addr = t->src;
	fwd.rev_port = t->sport;
	fwd.backend_id = id;
	fwd.svc_id = svc->id;
	if (be->addr == t->src && cfg_hairpin_addr) {
		/* Hairpin: the backend talks to its own service. Without SNAT
		 * its reply would stay inside its namespace and never be
		 * reverse-translated. */
		fwd.rev_addr = cfg_hairpin_addr;
		fwd.flags |= CT_F_HAIRPIN;
		count(LB_STAT_HAIRPIN);
	}
	fwd.expires = bpf_ktime_get_ns() + ct_timeout(l->proto, 0);

	rk = reply_key(t, &fwd);
	rev.nat_addr = t->dst;
	rev.nat_port = t->dport;
	rev.rev_addr = t->src;
	rev.rev_port = t->sport;
	rev.backend_id = id;
	rev.svc_id = svc->id;
	rev.flags = fwd.flags;
	rev.expires = fwd.expires;

	if (old) {
		struct ct_key ork = reply_key(t, old);

		bpf_map_delete_elem(&lb_ct, &ork);
	}
	/* Reply entry first: the backend may answer before we return. */
	if (bpf_map_update_elem(&lb_ct, &rk, &rev, BPF_ANY) < 0)
		return LB_STAT_DROP_CT_FULL;
	if (bpf_map_update_elem(&lb_ct, t, &fwd, BPF_ANY) < 0) {
		bpf_map_delete_elem(&lb_ct, &rk);
		return LB_STAT_DROP_CT_FULL;
	}
	*fwd_out = fwd;
	return -1;
}

/* backend_alive reports whether a forward entry still points at a backend
 * that exists with the same address. */
static __always_inline int backend_alive(const struct ct_entry *ct)
{
	struct backend *be = bpf_map_lookup_elem(&lb_backends, &ct->backend_id);

	return be && be->addr == ct->nat_addr && be->port == ct->nat_port &&
	       be->svc_id == ct->svc_id;
}

static __always_inline int refuse(struct __sk_buff *skb, const struct l4 *l)
{
	struct ethhdr eth;
	struct iphdr ip;
	int ret;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_LEN, &ip, sizeof(ip)) < 0 || ip.ihl != 5)
		return drop(LB_STAT_DROP_UNSUPPORTED);
	if (l->proto == IPPROTO_TCP) {
		struct tcphdr tcp;

		if (l->tcp_flags & TCPF_RST)
			return drop(LB_STAT_REJECT_TCP_RST); /* never answer an RST */
		if (bpf_skb_load_bytes(skb, l->off, &tcp, sizeof(tcp)) < 0)
			return drop(LB_STAT_DROP_UNSUPPORTED);
		ret = reject_tcp(skb, &eth, &ip, &tcp);
		if (ret < 0)
			return drop(LB_STAT_DROP_REWRITE);
		count(LB_STAT_REJECT_TCP_RST);
		return ret;
	}
	struct udphdr udp;

	if (bpf_skb_load_bytes(skb, l->off, &udp, sizeof(udp)) < 0)
		return drop(LB_STAT_DROP_UNSUPPORTED);
	ret = reject_udp(skb, &eth, &ip, &udp);
	if (ret < 0)
		return drop(LB_STAT_DROP_REWRITE);
	count(LB_STAT_REJECT_ICMP);
	return ret;
}

/* load_l4 fills l and the forward tuple t of a TCP or UDP packet; < 0 when
 * the header cannot be read. */
static __always_inline int load_l4(struct __sk_buff *skb, const struct iphdr *ip, int l4_off,
				   struct l4 *l, struct ct_key *t)
{
	__be16 ports[2];

	l->off = l4_off;
	l->proto = ip->protocol;
	t->src = ip->saddr;
	t->dst = ip->daddr;
	t->proto = ip->protocol;
	t->dir = CT_FORWARD;
	if (bpf_skb_load_bytes(skb, l4_off, ports, sizeof(ports)) < 0)
		return -1;
	t->sport = ports[0];
	t->dport = ports[1];
	if (l->proto == IPPROTO_TCP) {
		l->csum_off = l4_off + offsetof(struct tcphdr, check);
		if (bpf_skb_load_bytes(skb, l4_off + 13, &l->tcp_flags, 1) < 0)
			return -1;
	} else {
		l->csum_off = l4_off + offsetof(struct udphdr, check);
		l->csum_flags = BPF_F_MARK_MANGLED_0; /* a zero UDP checksum stays "none" */
	}
	return 0;
}

/* reply_xlate gives a backend's reply of a tracked flow t (forward tuple of
 * the packet as read) the service address back; < 0 when t is no reply. t's
 * direction is left as it was. */
static __always_inline int reply_xlate(struct __sk_buff *skb, const struct l4 *l, struct ct_key *t)
{
	struct ct_entry *ct;

	t->dir = CT_REPLY;
	ct = bpf_map_lookup_elem(&lb_ct, t);
	t->dir = CT_FORWARD;
	if (!ct)
		return -1;
	ct_touch(ct, l);
	count(LB_STAT_REPLY);
	return xlate(skb, l, t, ct->nat_addr, ct->nat_port, ct->rev_addr, ct->rev_port);
}

static __always_inline int handle_l4(struct __sk_buff *skb, const struct iphdr *ip, int l4_off)
{
	struct l4 l = {};
	struct ct_key t = {};
	struct ct_entry *ct, fwd;
	struct svc_entry *svc;
	int r;

	if (load_l4(skb, ip, l4_off, &l, &t) < 0)
		return TC_ACT_UNSPEC;

	ct = bpf_map_lookup_elem(&lb_ct, &t);
	if (ct) {
		int syn_only = (l.tcp_flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;

		if (backend_alive(ct) || (l.proto == IPPROTO_TCP && !syn_only)) {
			/* Established: TCP flows to a removed backend drain
			 * (graceful termination); everything else follows CT. */
			ct_touch(ct, &l);
			count(LB_STAT_FORWARD);
			return xlate(skb, &l, &t, ct->rev_addr, ct->rev_port, ct->nat_addr,
				     ct->nat_port);
		}
		/* The backend is gone: a UDP flow (or a new TCP connection
		 * reusing the tuple) moves to a live backend at once. */
		struct svc_key sk = {.vip = t.dst, .port = t.dport, .proto = t.proto};
		struct ct_entry old = *ct;

		svc = bpf_map_lookup_elem(&lb_services, &sk);
		if (!svc) {
			struct ct_key ork = reply_key(&t, &old);

			bpf_map_delete_elem(&lb_ct, &ork);
			bpf_map_delete_elem(&lb_ct, &t);
			return TC_ACT_UNSPEC;
		}
		if (svc->count == 0)
			return refuse(skb, &l);
		r = new_flow(svc, &t, &l, &fwd, &old);
		if (r >= 0)
			return drop(r);
		count(LB_STAT_RESELECT);
		return xlate(skb, &l, &t, fwd.rev_addr, fwd.rev_port, fwd.nat_addr, fwd.nat_port);
	}

	r = reply_xlate(skb, &l, &t);
	if (r >= 0)
		return r;

	struct svc_key sk = {.vip = t.dst, .port = t.dport, .proto = t.proto};

	svc = bpf_map_lookup_elem(&lb_services, &sk);
	if (!svc)
		return TC_ACT_UNSPEC;
	if (svc->count == 0)
		return refuse(skb, &l);
	r = new_flow(svc, &t, &l, &fwd, 0);
	if (r >= 0)
		return drop(r);
	count(LB_STAT_NEW_FLOW);
	return xlate(skb, &l, &t, fwd.rev_addr, fwd.rev_port, fwd.nat_addr, fwd.nat_port);
}

/* handle_icmp reverse-translates ICMP errors (destination unreachable,
 * including fragmentation needed, and time exceeded) whose quoted packet
 * belongs to a translated flow, so the sender of that packet recognises it. */
static __always_inline int handle_icmp(struct __sk_buff *skb, const struct iphdr *ip, int l4_off)
{
	const int icmp_csum = l4_off + offsetof(struct icmp4, checksum);
	const int in_off = l4_off + sizeof(struct icmp4);
	const int in_l4 = in_off + sizeof(struct iphdr);
	struct icmp4 ic;
	struct iphdr in;
	__be16 ports[2];
	struct ct_entry *ct;
	struct ct_key k = {};
	__be32 in_src, in_dst, out_src = ip->saddr, out_dst = ip->daddr;
	__be16 in_sport, in_dport;

	if (bpf_skb_load_bytes(skb, l4_off, &ic, sizeof(ic)) < 0)
		return TC_ACT_UNSPEC;
	if (ic.type != ICMP_DEST_UNREACH && ic.type != ICMP_TIME_EXCEEDED)
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, in_off, &in, sizeof(in)) < 0 || in.ihl != 5 ||
	    (in.protocol != IPPROTO_TCP && in.protocol != IPPROTO_UDP))
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, in_l4, ports, sizeof(ports)) < 0)
		return TC_ACT_UNSPEC;

	/* The quoted packet travelled in the opposite direction of the error:
	 * its reversed tuple is what our CT would see from the error's sender. */
	k.src = in.daddr;
	k.dst = in.saddr;
	k.sport = ports[1];
	k.dport = ports[0];
	k.proto = in.protocol;
	k.dir = CT_REPLY;
	ct = bpf_map_lookup_elem(&lb_ct, &k);
	if (ct) {
		/* Quoted: client -> backend. Make it client -> VIP. */
		in_src = ct->rev_addr;
		in_sport = ct->rev_port;
		in_dst = ct->nat_addr;
		in_dport = ct->nat_port;
		if (out_src == in.daddr)
			out_src = ct->nat_addr;
		if (out_dst == in.saddr)
			out_dst = ct->rev_addr;
	} else {
		k.dir = CT_FORWARD;
		ct = bpf_map_lookup_elem(&lb_ct, &k);
		if (!ct)
			return TC_ACT_UNSPEC;
		/* Quoted: VIP -> client (a reply). Make it backend -> client. */
		in_src = ct->nat_addr;
		in_sport = ct->nat_port;
		in_dst = ct->rev_addr;
		in_dport = ct->rev_port;
		if (out_dst == in.saddr)
			out_dst = ct->nat_addr;
		if (out_src == in.daddr)
			out_src = ct->rev_addr;
	}

	/* Inner addresses: fixing the quoted IP checksum with them keeps the
	 * quoted header's one's-complement sum at 0xffff, so the ICMP checksum
	 * is unaffected by this pair of changes. The quoted L4 checksum is left
	 * as it is (receivers do not verify it). */
	if (rewrite_addr(skb, in_off + offsetof(struct iphdr, saddr),
			 in_off + offsetof(struct iphdr, check), -1, 0, in.saddr, in_src) < 0 ||
	    rewrite_addr(skb, in_off + offsetof(struct iphdr, daddr),
			 in_off + offsetof(struct iphdr, check), -1, 0, in.daddr, in_dst) < 0 ||
	    rewrite_port(skb, in_l4, icmp_csum, 0, ports[0], in_sport) < 0 ||
	    rewrite_port(skb, in_l4 + 2, icmp_csum, 0, ports[1], in_dport) < 0 ||
	    rewrite_addr(skb, IP_SRC_OFF, IP_CSUM_OFF, -1, 0, ip->saddr, out_src) < 0 ||
	    rewrite_addr(skb, IP_DST_OFF, IP_CSUM_OFF, -1, 0, ip->daddr, out_dst) < 0)
		return drop(LB_STAT_DROP_REWRITE);
	count(LB_STAT_ICMP_XLATE);
	return TC_ACT_OK;
}

SEC("tc")
int lb_ingress(struct __sk_buff *skb)
{
	struct ethhdr eth;
	struct iphdr ip;
	int l4_off, ret;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 ||
	    eth.h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, ETH_LEN, &ip, sizeof(ip)) < 0 || ip.version != 4 ||
	    ip.ihl < 5)
		return TC_ACT_UNSPEC;
	l4_off = ETH_LEN + ip.ihl * 4;
	ret = dns_steer(skb, &ip, l4_off);
	if (ret >= 0)
		return ret;
	switch (ip.protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (ip.frag_off & bpf_htons(IP_MF | IP_OFFSET)) {
			/* Non-first fragments carry no ports; Skiff does not
			 * reassemble (services behind it use PMTU discovery). */
			count(LB_STAT_FRAGMENT);
			return TC_ACT_UNSPEC;
		}
		return handle_l4(skb, &ip, l4_off);
	case IPPROTO_ICMP:
		return handle_icmp(skb, &ip, l4_off);
	}
	return TC_ACT_UNSPEC;
}

/* reply_egress reverse-translates replies of backends that live on the node
 * itself (host-network pods, the API server behind the kubernetes Service,
 * the fallback DNS): they come from the host stack and leave through the
 * client's veth without passing any ingress hook. Replies of pod backends
 * were already translated at their veth's ingress and match nothing here. */
static __always_inline int reply_egress(struct __sk_buff *skb, const struct iphdr *ip, int l4_off)
{
	struct l4 l = {};
	struct ct_key t = {};
	int r;

	if (load_l4(skb, ip, l4_off, &l, &t) < 0)
		return TC_ACT_UNSPEC;
	r = reply_xlate(skb, &l, &t);
	return r >= 0 ? r : TC_ACT_UNSPEC;
}

/* lb_egress reverse-translates ICMP errors the node itself generates about a
 * translated flow (fragmentation needed when forwarding onto a smaller MTU,
 * TTL exceeded); they are sent locally and never pass an ingress hook. It
 * also gives replies of the node-local DNS server the cluster DNS IP back as
 * their source (dns.h), and replies of backends on the node itself
 * (reply_egress). Everything else passes untouched. */
SEC("tc")
int lb_egress(struct __sk_buff *skb)
{
	struct ethhdr eth;
	struct iphdr ip;
	int l4_off, ret;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 ||
	    eth.h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes(skb, ETH_LEN, &ip, sizeof(ip)) < 0 || ip.version != 4 ||
	    ip.ihl < 5)
		return TC_ACT_UNSPEC;
	l4_off = ETH_LEN + ip.ihl * 4;
	if (ip.protocol == IPPROTO_ICMP)
		return handle_icmp(skb, &ip, l4_off);
	ret = dns_unsteer(skb, &ip, l4_off);
	if (ret >= 0)
		return ret;
	if ((ip.protocol == IPPROTO_TCP || ip.protocol == IPPROTO_UDP) &&
	    !(ip.frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return reply_egress(skb, &ip, l4_off);
	return TC_ACT_UNSPEC;
}

/* Socket-level balancing of node-originated traffic (cgroup sock_addr
 * programs sharing the maps above): see sock.h. */
#include "sock.h"
