// Package lb is Skiff's eBPF service load balancer: the C programs in lb.c
// (compiled by bpf2go into lb_bpfel.o; layout in bpf/lib/lb.h) and a typed Go
// API over their maps.
//
// lb_ingress (TC ingress) does IPv4 Service DNAT for TCP and UDP: service
// lookup (VIP, port, proto), backend choice (random, Maglev, ClientIP
// affinity), connection tracking in both directions, reverse NAT of replies,
// hairpin SNAT, reverse translation of ICMP errors about tracked flows, TCP
// RST / ICMP port unreachable for services without endpoints, and re-choice
// of a live backend for UDP flows whose backend is gone. lb_egress (TC
// egress) translates ICMP errors the node itself sends. Counters, including
// named drop reasons, are in the per-CPU lb_stats map (ReadStats).
//
// Node-local DNS steering (dns.h, dns.go): lb_ingress rewrites the
// destination of UDP and TCP packets to (cluster DNS IP, 53) to the
// node-local DNS address, and lb_egress rewrites the source of replies from
// (local address, 53) back, per packet and without any conntrack entry, so
// parallel A/AAAA queries cannot race on a conntrack insertion (Kubernetes
// issue 56903). Steering applies only while the heartbeat in the lb_dns
// array map (SetDNSSteering: cluster IP, local IP, CLOCK_MONOTONIC
// heartbeat as Monotonic() reads it, max age, default 3 s) is fresh;
// otherwise such packets take the ordinary Service path (the kube-dns
// Service, balanced with conntrack). UDP fragments follow their first
// fragment; a TCP connection already tracked on the Service path stays
// there. Counters dns_* (lb_dns_stats) are part of ReadStats.
//
// In:  a Config (hairpin SNAT address, conntrack timeouts) and Sizes (map
// capacities) to load the program; Go values (netip.Addr, ports, ids) for
// map writes.
// Out: a loaded *Objects (program + maps) and readers that turn the maps back
// into Go values for `skiff bpf lb list` / `skiff bpf ct list`.
//
// maps.go is the only Go code that knows the maps' byte order: addresses and
// ports are stored in network byte order, everything else in host order.
// Maglev tables (LB_MAGLEV_M entries) are computed here by MaglevTable.
package lb
