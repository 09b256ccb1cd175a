// Package nodelocal runs the cluster DNS server inside the agent, on a
// node-local address, and keeps the eBPF dataplane steering pods' DNS
// queries to it for as long as it answers.
//
// In:  Config{Client (the agent's Kubernetes client), ClusterDNSIP (the
// address in pods' resolv.conf, 10.96.0.10), LocalIP (169.254.20.10),
// Interface (skiffdns0), Zone, TTL, Upstreams, Node and PinRoot (the
// service dataplane node/proxy loaded), Registry}.
// Out: a dummy interface Interface carrying LocalIP/32 in the calling
// thread's network namespace (created if absent, repaired every heartbeat);
// dns/server answering on LocalIP:53 over UDP and TCP with the dns/kube
// source; a heartbeat in the dataplane's pinned lb_dns map; the metrics
// skiff_dns_* of dns/server (queries, responses by rcode, cache hits,
// latency) plus skiff_dns_nodelocal_steering and
// skiff_dns_nodelocal_probe_failures_total, in Registry (default: the
// Prometheus default registry, which the agent's /metrics serves, relayed
// from a private registry so Start can run again after Stop).
//
// Steering without conntrack. bpf/lb's lb_ingress (TC ingress of every pod
// veth) rewrites the destination of UDP and TCP packets to
// (ClusterDNSIP, 53) to LocalIP, per packet, fixing the IP and L4
// checksums, and lb_egress rewrites the source of replies from
// (LocalIP, 53) back to ClusterDNSIP. No conntrack entry is created, in BPF
// or netfilter NAT, so parallel A and AAAA queries from one socket cannot
// lose a race on a conntrack insertion (Kubernetes issue 56903): each packet
// is rewritten on its own.
//
// Heartbeat and fallback. Every Interval (1 s) the agent sends itself a
// probe query (dns-version.<zone> TXT, a cluster record, over UDP to
// LocalIP:53); when it is answered it writes CLOCK_MONOTONIC now (the clock
// of bpf_ktime_get_ns) with ClusterDNSIP and LocalIP into lb_dns. The
// program steers only while that heartbeat is younger than MaxAge (3 s).
// Until the server has synced with the API, while the probe fails, after
// Stop, or up to 3 s after the agent is killed, queries to ClusterDNSIP take
// the ordinary Service path instead: the kube-dns Service (ClusterIP
// ClusterDNSIP, ports 53/UDP and 53/TCP) balanced with conntrack to its
// endpoints. Something else must publish that Service and its endpoints
// (the skiff server does); without it such queries pass unchanged and are
// lost. A pod whose query was steered to a server that has just died sees no
// answer, retries after its resolver timeout, and by then is on the
// fallback path. A graceful stop clears the heartbeat before closing the
// sockets, so the fallback starts at once. An established TCP connection
// opened on the Service path stays there when steering resumes.
//
// Example (agent):
//
//	nl, err := nodelocal.Start(ctx, nodelocal.Config{Client: client,
//		ClusterDNSIP: netip.MustParseAddr("10.96.0.10"), Zone: "cluster.local", Node: nodeName})
//	defer nl.Stop()
package nodelocal
