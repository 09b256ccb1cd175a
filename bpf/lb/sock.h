/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Socket-level balancing for traffic the node itself originates (host
 * processes, hostNetwork pods), included by lb.c after its maps so that it
 * shares lb_services, lb_slots, lb_backends, lb_maglev and lb_affinity.
 *
 * cgroup/connect4 (TCP, connected UDP) and cgroup/sendmsg4 (unconnected UDP)
 * rewrite a destination that is a service frontend (VIP, port, proto) to a
 * backend chosen by select_backend, the same choice lb_ingress makes. They
 * record (socket cookie, backend) -> frontend in lb_sock_xlate so that
 * cgroup/recvmsg4 and cgroup/getpeername4 show the application the frontend
 * instead of the backend. Unconnected UDP sockets keep their backend per
 * (socket, frontend) while it lives (a forward record), so one socket's
 * datagrams form one flow, as with lb_ingress's conntrack.
 *
 * A frontend without backends fails the call with ECONNREFUSED. With
 * cfg_sock_loopback_alias set (the node IP), 127.0.0.1:port that is no
 * frontend itself is balanced as alias:port, so 127.0.0.1:hostPort works.
 * Queries to (cluster DNS IP, 53) go to the node-local DNS server while its
 * heartbeat is fresh (dns.h), else take the kube-dns Service like pods'.
 * Only sockets of the network namespace whose cookie is
 * cfg_sock_netns_cookie are handled (0: every namespace); pods are handled
 * per packet by lb_ingress at their veth. Go side: bpf/lb/sock.go,
 * dataplane/loader/cgroup.go. */
#ifndef SKIFF_LB_SOCK_H
#define SKIFF_LB_SOCK_H

#include "../lib/common.h"
#include "../lib/lb.h"

#define SOCK_ECONNREFUSED 111

/* Network namespace cookie of the node (set by the loader; 0: all). */
volatile const __u64 cfg_sock_netns_cookie = 0;
/* 127.0.0.1:port with no frontend of its own is looked up as this
 * address:port (the node IP, so 127.0.0.1:hostPort works); 0: off. */
volatile const __be32 cfg_sock_loopback_alias = 0;


enum sock_xlate_dir {
	SOCK_XLATE_REV = 0, /* key: backend; value: frontend */
	SOCK_XLATE_FWD = 1, /* key: frontend; value: backend (unconnected UDP) */
};

struct sock_xlate_key {
	__u64 cookie; /* bpf_get_socket_cookie */
	__be32 addr;
	__be16 port;
	__u8 dir; /* enum sock_xlate_dir */
	__u8 pad;
};

struct sock_xlate {
	__be32 addr;
	__be16 port;
	__u16 pad;
	__u32 backend_id; /* SOCK_XLATE_FWD: the backend's id */
	__u32 svc_id;     /* SOCK_XLATE_FWD: the service's id */
};

/* Per-CPU counters in lb_sock_stats. */
enum sock_stat {
	SOCK_STAT_CONNECT = 0,   /* connect4 rewritten to a backend */
	SOCK_STAT_SENDMSG,       /* sendmsg4 rewritten to a backend */
	SOCK_STAT_RECVMSG,       /* recvmsg4 source given the frontend back */
	SOCK_STAT_PEERNAME,      /* getpeername4 given the frontend back */
	SOCK_STAT_NO_BACKEND,    /* refused: the frontend has no backend */
	SOCK_STAT_XLATE_FULL,    /* rewrite done, reverse record not stored */
	SOCK_STAT_DNS_STEERED,   /* cluster DNS IP:53 sent to the node-local server */
	SOCK_STAT_MAX,
};

/* Records die with LRU eviction; cookies are never reused within a boot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct sock_xlate_key);
	__type(value, struct sock_xlate);
	__uint(max_entries, 65536);
} lb_sock_xlate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, SOCK_STAT_MAX);
} lb_sock_stats SEC(".maps");

const struct sock_xlate_key *unused_sock_xlate_key __attribute__((unused));
const struct sock_xlate *unused_sock_xlate __attribute__((unused));
const enum sock_stat *unused_sock_stat __attribute__((unused));
const enum sock_xlate_dir *unused_sock_xlate_dir __attribute__((unused));

static __always_inline void sock_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&lb_sock_stats, &stat);

	if (v)
		*v += 1;
}

static __always_inline int sock_ours(struct bpf_sock_addr *ctx)
{
	__u8 proto = ctx->protocol;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	return cfg_sock_netns_cookie == 0 || bpf_get_netns_cookie(ctx) == cfg_sock_netns_cookie;
}

/* sock_refuse makes the hook fail the call with ECONNREFUSED. */
static __always_inline int sock_refuse(void)
{
	sock_count(SOCK_STAT_NO_BACKEND);
	bpf_set_retval(-SOCK_ECONNREFUSED);
	return 0;
}

/* sock_pick chooses a backend of svc for a socket. The tuple handed to
 * select_backend has the socket's bound source address as the client (0
 * when unbound, so all node sockets share ClientIP affinity, as all node
 * traffic has the node as its client) and the cookie as source port, so
 * Maglev spreads sockets. */
static __always_inline struct backend *sock_pick(struct bpf_sock_addr *ctx, const struct svc_entry *svc,
						 __be32 src, __u64 cookie, __u32 *id)
{
	struct ct_key t = {
		.src = src,
		.dst = ctx->user_ip4,
		.sport = (__be16)(cookie ^ (cookie >> 16) ^ (cookie >> 32)),
		.dport = (__be16)ctx->user_port,
		.proto = ctx->protocol,
		.dir = CT_FORWARD,
	};

	return select_backend(svc, &t, id);
}

/* sock_rewrite points the call at be and remembers the frontend for the
 * reverse translation. */
static __always_inline void sock_rewrite(struct bpf_sock_addr *ctx, __u64 cookie, const struct backend *be)
{
	struct sock_xlate_key rk = {.cookie = cookie, .addr = be->addr, .port = be->port, .dir = SOCK_XLATE_REV};
	struct sock_xlate rv = {.addr = ctx->user_ip4, .port = (__be16)ctx->user_port};

	if (bpf_map_update_elem(&lb_sock_xlate, &rk, &rv, BPF_ANY) < 0)
		sock_count(SOCK_STAT_XLATE_FULL);
	ctx->user_ip4 = be->addr;
	ctx->user_port = be->port;
}

static __always_inline struct svc_entry *sock_service(struct bpf_sock_addr *ctx)
{
	struct svc_key sk = {.vip = ctx->user_ip4, .port = (__be16)ctx->user_port, .proto = ctx->protocol};
	struct svc_entry *svc = bpf_map_lookup_elem(&lb_services, &sk);

	if (!svc && cfg_sock_loopback_alias && sk.vip == bpf_htonl(0x7f000001)) {
		sk.vip = cfg_sock_loopback_alias;
		svc = bpf_map_lookup_elem(&lb_services, &sk);
	}
	return svc;
}

/* sock_dns_steer sends (cluster DNS IP, 53) to the node-local DNS server
 * while its heartbeat is fresh (dns.h), as lb_ingress does for pods; it
 * returns whether it did. */
static __always_inline int sock_dns_steer(struct bpf_sock_addr *ctx)
{
	struct dns_cfg *c = dns_config();
	struct backend local = {};

	if (!c || ctx->user_ip4 != c->cluster_ip || (__be16)ctx->user_port != bpf_htons(DNS_PORT) ||
	    !dns_fresh(c))
		return 0;
	local.addr = c->local_ip;
	local.port = bpf_htons(DNS_PORT);
	sock_rewrite(ctx, bpf_get_socket_cookie(ctx), &local);
	sock_count(SOCK_STAT_DNS_STEERED);
	return 1;
}

SEC("cgroup/connect4")
int lb_sock_connect4(struct bpf_sock_addr *ctx)
{
	struct svc_entry *svc;
	struct backend *be;
	struct bpf_sock *sk;
	__be32 src = 0;
	__u64 cookie;
	__u32 id = 0;

	if (!sock_ours(ctx) || sock_dns_steer(ctx))
		return 1;
	svc = sock_service(ctx);
	if (!svc)
		return 1;
	if (svc->count == 0)
		return sock_refuse();
	sk = ctx->sk;
	if (sk)
		src = sk->src_ip4;
	cookie = bpf_get_socket_cookie(ctx);
	be = sock_pick(ctx, svc, src, cookie, &id);
	if (!be)
		return sock_refuse();
	sock_rewrite(ctx, cookie, be);
	sock_count(SOCK_STAT_CONNECT);
	return 1;
}

/* sock_fwd_backend returns the backend an unconnected socket used for this
 * frontend, if it still belongs to svc at the same address. */
static __always_inline struct backend *sock_fwd_backend(const struct sock_xlate_key *fk, const struct svc_entry *svc)
{
	struct sock_xlate *fw = bpf_map_lookup_elem(&lb_sock_xlate, fk);
	struct backend *be;

	if (!fw || fw->svc_id != svc->id)
		return 0;
	be = bpf_map_lookup_elem(&lb_backends, &fw->backend_id);
	if (!be || be->svc_id != svc->id || be->addr != fw->addr || be->port != fw->port)
		return 0;
	return be;
}

SEC("cgroup/sendmsg4")
int lb_sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct svc_entry *svc;
	struct backend *be;
	__u64 cookie;
	__u32 id = 0;

	if (ctx->protocol != IPPROTO_UDP || !sock_ours(ctx) || sock_dns_steer(ctx))
		return 1;
	svc = sock_service(ctx);
	if (!svc)
		return 1;
	if (svc->count == 0)
		return sock_refuse();
	cookie = bpf_get_socket_cookie(ctx);

	struct sock_xlate_key fk = {.cookie = cookie, .addr = ctx->user_ip4, .port = (__be16)ctx->user_port,
				    .dir = SOCK_XLATE_FWD};

	be = sock_fwd_backend(&fk, svc);
	if (!be) {
		be = sock_pick(ctx, svc, ctx->msg_src_ip4, cookie, &id);
		if (!be)
			return sock_refuse();
		struct sock_xlate fw = {.addr = be->addr, .port = be->port, .backend_id = id, .svc_id = svc->id};

		if (bpf_map_update_elem(&lb_sock_xlate, &fk, &fw, BPF_ANY) < 0)
			sock_count(SOCK_STAT_XLATE_FULL);
	}
	sock_rewrite(ctx, cookie, be);
	sock_count(SOCK_STAT_SENDMSG);
	return 1;
}

/* sock_reverse gives a backend address seen by recvmsg or getpeername its
 * frontend back; it returns whether it did. */
static __always_inline int sock_reverse(struct bpf_sock_addr *ctx)
{
	struct sock_xlate_key rk = {.addr = ctx->user_ip4, .port = (__be16)ctx->user_port, .dir = SOCK_XLATE_REV};
	struct sock_xlate *rv;

	if (!sock_ours(ctx))
		return 0;
	rk.cookie = bpf_get_socket_cookie(ctx);
	rv = bpf_map_lookup_elem(&lb_sock_xlate, &rk);
	if (!rv)
		return 0;
	ctx->user_ip4 = rv->addr;
	ctx->user_port = rv->port;
	return 1;
}

SEC("cgroup/recvmsg4")
int lb_sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	if (sock_reverse(ctx))
		sock_count(SOCK_STAT_RECVMSG);
	return 1;
}

SEC("cgroup/getpeername4")
int lb_sock_getpeername4(struct bpf_sock_addr *ctx)
{
	if (sock_reverse(ctx))
		sock_count(SOCK_STAT_PEERNAME);
	return 1;
}

#endif
