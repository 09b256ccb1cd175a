/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service load-balancer map layout. Go mirrors of these types are generated
 * by bpf2go (-type); bpf/lb/maps.go is the only Go code that knows their byte
 * order. Addresses and ports are network byte order, everything else host. */
#ifndef SKIFF_LIB_LB_H
#define SKIFF_LIB_LB_H

#include "common.h"

/* Maglev lookup table size per service: a prime well above the backend
 * counts Skiff expects per service (Maglev wants M >> N). */
#define LB_MAGLEV_M 1021

enum svc_flags {
	SVC_F_AFFINITY = 1, /* sessionAffinity: ClientIP */
	SVC_F_MAGLEV = 2,   /* Maglev consistent hashing instead of random */
};

struct svc_key {
	__be32 vip;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct svc_entry {
	__u32 id;               /* service id, > 0 */
	__u16 count;            /* backends in the active slot generation */
	__u8 flags;             /* enum svc_flags */
	__u8 gen;               /* active slot generation: 0 or 1 */
	__u32 affinity_timeout; /* seconds, with SVC_F_AFFINITY */
	__u32 pad;
};

/* Backend slots of one service generation: slot in [0, count). */
struct slot_key {
	__u32 svc_id;
	__u16 slot;
	__u8 gen;
	__u8 pad;
};

struct backend {
	__be32 addr;
	__be16 port;
	__u16 pad;
	__u32 svc_id; /* owning service: backend ids are per service */
};

/* Maglev table of one service generation, key (svc_id << 1) | gen. */
struct maglev_table {
	__u32 ids[LB_MAGLEV_M];
};

enum ct_dir {
	CT_FORWARD = 0, /* client -> VIP, as the client sends it */
	CT_REPLY = 1,   /* backend -> client (or hairpin address), as the backend sends it */
};

struct ct_key {
	__be32 src;
	__be32 dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir; /* enum ct_dir */
	__u16 pad;
};

enum ct_flags {
	CT_F_HAIRPIN = 1,
	CT_F_CLOSING = 2,
};

/* Forward entry: dst becomes nat_addr:nat_port, src becomes rev_addr:rev_port.
 * Reply entry: src becomes nat_addr:nat_port, dst becomes rev_addr:rev_port. */
struct ct_entry {
	__u64 expires; /* CLOCK_MONOTONIC ns; user space garbage-collects */
	__be32 nat_addr;
	__be32 rev_addr;
	__be16 nat_port;
	__be16 rev_port;
	__u32 backend_id;
	__u32 svc_id;
	__u8 flags; /* enum ct_flags */
	__u8 pad[3];
};

struct affinity_key {
	__be32 client;
	__u32 svc_id;
};

struct affinity_entry {
	__u64 last_used; /* CLOCK_MONOTONIC ns */
	__u32 backend_id;
	__u32 pad;
};

/* Per-CPU packet counters; the DROP_* entries are the named drop reasons. */
enum lb_stat {
	LB_STAT_NEW_FLOW = 0,
	LB_STAT_FORWARD,
	LB_STAT_REPLY,
	LB_STAT_ICMP_XLATE,
	LB_STAT_REJECT_TCP_RST,
	LB_STAT_REJECT_ICMP,
	LB_STAT_HAIRPIN,
	LB_STAT_RESELECT,
	LB_STAT_AFFINITY_HIT,
	LB_STAT_FRAGMENT,
	LB_STAT_DROP_CT_FULL,
	LB_STAT_DROP_NO_BACKEND,
	LB_STAT_DROP_REWRITE,
	LB_STAT_DROP_UNSUPPORTED,
	LB_STAT_MAX,
};

#endif
