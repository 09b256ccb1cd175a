// Package proxy is the agent's kube-proxy replacement: it drives the eBPF
// service dataplane from the Kubernetes API.
//
// In: Services and discovery.k8s.io/v1 EndpointSlices from client-go
// informers, and the node's pod veths (host side, name prefix "skp").
// Out: dataplane/services desired state (VIP, port, protocol → backends),
// written to the pinned bpf/lb maps through the reconciler after a short
// coalescing delay; the balancer attached to every pod veth's TC ingress;
// the histogram skiff_proxy_programming_seconds (API change → map write).
//
// The balancer on each pod veth also carries node-local DNS steering: while
// dns/nodelocal (the agent's DNS server) keeps its heartbeat fresh in the
// pinned lb_dns map, pods' queries to the cluster DNS IP go to it without
// conntrack; otherwise they take the kube-dns Service programmed here like
// any other Service. Give nodelocal the same Node and PinRoot as Config.
//
// Endpoint choice follows Kubernetes: ready endpoints, else serving
// terminating ones; sessionAffinity ClientIP becomes BPF affinity.
package proxy
