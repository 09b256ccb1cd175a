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
// Socket-level balancing (sock.h, sock.go): cgroup sock_addr programs for
// traffic the node itself originates (host processes, hostNetwork pods),
// which never crosses a TC ingress hook Skiff owns. connect4 (TCP,
// connected UDP) and sendmsg4 (unconnected UDP) rewrite a destination that
// is a frontend in lb_services to a backend chosen exactly as lb_ingress
// chooses (select_backend: random slot, Maglev over a per-socket hash,
// ClientIP affinity with the socket's bound address, 0 when unbound, as
// the client); recvmsg4 and getpeername4 show the frontend again, from
// lb_sock_xlate (LRU, keyed by socket cookie and backend). An unconnected
// UDP socket keeps its backend per frontend while that backend lives. A
// frontend with no backends fails connect/sendmsg with ECONNREFUSED. Only
// sockets of the network namespace whose cookie is Config.SockNetnsCookie
// are handled (pods are balanced at their veth); 127.0.0.1:port with no
// frontend of its own is looked up as Config.SockLoopbackAlias:port (the
// node IP, for hostPorts); queries to (cluster DNS IP, 53) follow
// node-local DNS steering. Counters sock_* are part of ReadStats. Attach
// with dataplane/loader AttachCgroup.
//
// In:  a Config (hairpin SNAT address, conntrack timeouts, socket-level
// namespace cookie and loopback alias) and Sizes (map
// capacities) to load the program; Go values (netip.Addr, ports, ids) for
// map writes.
// Out: a loaded *Objects (program + maps) and readers that turn the maps back
// into Go values for `skiff bpf lb list` / `skiff bpf ct list`.
//
// maps.go is the only Go code that knows the maps' byte order: addresses and
// ports are stored in network byte order, everything else in host order.
// Maglev tables (LB_MAGLEV_M entries) are computed here by MaglevTable.
package lb
