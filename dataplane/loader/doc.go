// Package loader loads the bpf/lb service load-balancer into the kernel,
// pins its maps and links under bpffs, attaches it to interfaces and
// re-adopts that pinned state after a restart.
//
// In:  Options{Node, Ifaces, PinRoot, HairpinAddr, NodeIP, Sizes, timeouts, ForceNetlink}.
// Out: a *Dataplane holding the loaded objects (Maps() gives the typed
// bpf/lb map API) with the program attached at TC ingress of every interface.
//
// Pins live in <PinRoot>/<Node>/ (default /sys/fs/bpf/skiff/<node>/): maps
// under maps/, links under links/. bpffs is mounted at /sys/fs/bpf if it is
// not. Attach uses TCX (Linux 6.6+) and falls back to a netlink clsact
// filter. Open again with the same Node and the pinned maps are reused (the
// connection-tracking state survives) and each pinned link is updated in
// place to the new program, so established flows lose no packet. Close
// releases the process's handles but leaves the pins, so a killed or exited
// process leaves a working datapath; Remove detaches and unpins everything.
//
// Network namespaces: Open acts on the network namespace of the calling
// thread. To attach inside another namespace, call Open from a goroutine
// locked into it, e.g. with internal/nstest:
//
//	var dp *loader.Dataplane
//	err := routerNS.Do(func() (err error) {
//		dp, err = loader.Open(loader.Options{Node: "bench-router", Ifaces: []string{"eth0", "eth1"}})
//		return err
//	})
//	defer dp.Close() // keeps the datapath; dp.Remove() detaches and unpins
//	rec, err := services.NewReconciler(dp.Maps())
//	err = rec.Update([]services.Service{...})
//	go dp.RunGC(ctx, 30*time.Second) // expire idle conntrack entries
//
// Open remembers that namespace: later Attach and Remove calls (netlink,
// ifindex look-ups, TCX attachment) act in it from any goroutine, and map
// writes are plain bpf() syscalls on file descriptors that need no
// namespace at all.
//
// Attachment: lb_ingress (the balancer) on TC ingress and lb_egress (which
// reverse-translates ICMP errors the node itself sends, e.g. fragmentation
// needed) on TC egress of every interface in Ifaces. For a router between
// clients and backends, list both the client-side and backend-side
// interfaces: replies are reverse-translated when they enter the node.
//
// Node-local DNS: the pinned lb_dns map holds the DNS steering entry
// (bpf/lb DNSSteering); dns/nodelocal opens it with OpenPinnedDNS and writes
// its heartbeat there, so steering works with whichever process loaded the
// dataplane. OpenPinnedMaps accepts pins made before lb_dns existed.
//
// Socket-level balancing (cgroup.go): AttachCgroup(path) attaches the
// bpf/lb cgroup sock_addr programs (connect4, sendmsg4, recvmsg4,
// getpeername4) to a cgroup v2 directory ("" = DefaultCgroupPath: the
// cgroup v2 root, /sys/fs/cgroup or /sys/fs/cgroup/unified on a hybrid
// hierarchy), so processes in it and in the network namespace Open ran in
// reach Services, hostPorts (and, with Options.NodeIP, 127.0.0.1:hostPort)
// through their backends. The links are pinned as links/cgroup-<hook>:
// re-adopted in place on the same cgroup after a restart, replaced on
// another; DetachCgroup, Remove and RemovePins detach them.
//
// RunGC should run while the process lives: the conntrack map is a plain
// hash (new flows are dropped and counted as drop_conntrack_full when it is
// full, established ones are never evicted), so idle entries are removed
// from user space.
package loader
