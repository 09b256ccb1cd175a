// Package proxy is the agent's kube-proxy replacement: it drives the eBPF
// service dataplane from the Kubernetes API.
//
// In: Services and discovery.k8s.io/v1 EndpointSlices from client-go
// informers, the pods bound to this node (field selector
// spec.nodeName=<node>) for their hostPorts (the agent passes the
// informer factories it shares with the kubelet: Config.Informers and
// Config.Pods), the node IP (Config.NodeIP)
// and the node's pod veths (host side, name prefix "skp").
// Out: dataplane/services desired state (VIP, port, protocol → backends),
// written to the pinned bpf/lb maps through the reconciler after a short
// coalescing delay; the balancer attached to every pod veth's TC ingress
// as soon as netlink reports the veth (a scan every 300 ms retries) and to
// the uplink's; the histogram skiff_proxy_programming_seconds (API
// change → map write).
//
// The balancer on each pod veth also carries node-local DNS steering: while
// dns/nodelocal (the agent's DNS server) keeps its heartbeat fresh in the
// pinned lb_dns map, pods' queries to the cluster DNS IP go to it without
// conntrack; otherwise they take the kube-dns Service programmed here like
// any other Service. Give nodelocal the same Node and PinRoot as Config.
//
// Endpoint choice follows Kubernetes: ready endpoints, else serving
// terminating ones; sessionAffinity ClientIP becomes BPF affinity.
//
// hostPort (hostport.go): a container port with hostPort H of a pod bound
// to this node, Running, not being deleted, with an IPv4 pod IP and not on
// the host network (there the container binds H itself) becomes a balancer
// entry (hostIP, H, protocol) → (pod IP, containerPort) with one backend;
// hostIP empty or 0.0.0.0 means Config.NodeIP; loopback and IPv6 hostIPs
// are not published. TCP and UDP only. The entries go through the same
// reconciler as the Services; a Service on the same key wins, and of two
// pods claiming one key the older keeps it (both logged once). Pod events that do not change a pod's hostPorts (status
// updates) cause no sync. The balancer is attached to the uplink (the
// interface holding the node IP, or Config.Uplink) as to the pod veths:
// other machines' packets to nodeIP:H are DNATed there, keeping the
// client's address; the pod's reply is reverse-translated to nodeIP:H by
// conntrack at its veth. Pods reach nodeIP:H through their own veth's
// balancer, and a pod reaching its own hostPort is hairpin-SNATed to
// 169.254.77.1 like a Service hairpin. The uplink's TCX link is pinned
// with the pod veths' ones (links/tcx-{ingress,egress}-<uplink>): it stays
// when the agent stops, the next start re-adopts it, and removing the
// node's pins (`skiff bpf remove`, internal/agentclean, `make down`)
// detaches it. Non-matching uplink traffic passes untouched (the node's
// own connections, ARP, IPv6, ICMP other than errors about tracked flows).
//
// Replies translated at a pod veth's ingress carry a source (a Service VIP
// or a node address) the veth does not route, so the proxy sets
// accept_local=1 and rp_filter=0 on each pod veth it attaches to, and
// warns when net.ipv4.conf.all.rp_filter is not 0.
//
// Node-originated traffic (bpf/lb sock.h, loader AttachCgroup): with
// Config.SockCgroup set (CgroupAuto: the cgroup v2 root) the proxy attaches
// the socket-level balancer at start, so host processes and hostNetwork
// pods reach ClusterIP:port, nodeIP:hostPort and 127.0.0.1:hostPort (looked
// up as Config.NodeIP:hostPort); a Service without endpoints refuses
// connect/sendmsg with ECONNREFUSED. "" or "-" disables it and removes the
// links an earlier run pinned. A failed attachment is logged, not fatal.
//
// hostPort limitations: without the socket-level balancer, traffic the node
// itself (or a hostNetwork pod) sends to its own address (nodeIP:H or
// 127.0.0.1:H) goes through loopback, not the uplink's TC ingress, and is
// not forwarded. Only the uplink carries outside traffic:
// a hostIP held by another interface is reachable from pods only. Like
// portmap, a hostPort shadows a node service on the same address and port
// for traffic from other machines, and a hostPort inside the node's
// ephemeral range (net.ipv4.ip_local_port_range) can capture replies of a
// connection the node opened from that source port.
package proxy
