// Package podnet gives each pod its network: a veth pair and an address
// from the node's PodCIDR.
//
// In: the node's PodCIDR, the agent data dir, and per pod a PodRef
// (namespace, name, UID) plus the path of the pod's network namespace.
// Out: in the host namespace a veth "skp<hash>" (MTU set) with a /32 route
// to the pod; in the pod namespace eth0 holding the pod IP/32, lo up, a
// permanent neighbour entry for the gateway 169.254.1.1 (the host veth's
// MAC) and a default route via it; IPv4 forwarding on in the host.
//
// IPAM keeps one fsynced file per allocation under DATA/podnet/ipam, owned
// by pod UID, so addresses survive agent, containerd and machine restarts.
// The agent calls GC on start with the set of live pods: addresses of gone
// pods are freed and their veths (and any orphaned "skp*" veth) deleted, so
// allocated addresses always equal running pods. The network address, the
// first host address (Router, kept for the node's own use) and the
// broadcast address are never handed out.
//
// CreateNetNS/DeleteNetNS/ListNetNS make, remove and list pinned pod
// namespaces (bind mounts, by default under /run/netns) so a pod's
// containers can share one namespace without a pause process.
package podnet
