// Package kubelet runs the pods the scheduler bound to this node.
//
// In: a Kubernetes client (pods with spec.nodeName=<node> are watched
// through a field-selected informer, internal/nodepods, shared with the
// agent's proxy and static pods through Config.Pods; Services for the
// service environment variables come from the agent's watch cache,
// Config.Services; ConfigMaps and Secrets are read on demand;
// service-account tokens come from TokenRequest, POST
// serviceaccounts/<sa>/token, always bound to the pod), a containerd
// client in the "skiff" namespace with the runtime option from
// node/containerd, and a podnet.Network for pod addresses.
//
// Out: per pod a pinned network namespace with a veth and an address from
// the PodCIDR, /etc/hosts and /etc/resolv.conf files, volumes (emptyDir,
// hostPath, configMap, secret, downwardAPI, projected) under
// DATA/pods/<uid>. Projected volumes (serviceAccountToken, configMap,
// secret and downwardAPI sources, such as the kube-api-access-* volume)
// and downwardAPI volumes are written atomically through a "..data"
// symlink and rewritten every minute while the pod runs: tokens are
// renewed after 80% of their lifetime (at most daily) and dropped when the
// pod goes; a failure is a FailedMount event and the pod waits. Init
// containers run in order and then the containers, all sharing the pod
// namespace; restarts with exponential back-off (10 s doubling to 5 min,
// CrashLoopBackOff); liveness, readiness and startup probes (exec,
// httpGet, tcpSocket); containers with tty: true get a terminal whose
// output containerd's shim hands to `skiff tty-log`, which appends it to the
// container log (tty.go), while Attach writes to its stdin FIFO, applies
// resizes and honours stdinOnce; pod
// status written through UpdateStatus only when it changes as the API
// stores it; an image's config, root filesystem and unpacked state are
// asked of containerd once (imagecache.go); a pod's containers run under
// one containerd shim, or pods share Config.ShimGroups shims; container
// creations go through four slots, and a new pod's whole first step
// (sandbox and first starts) holds one, taken in arrival order, so that of
// many pods arriving at once the first are up first; Events as the
// kubelet records them (Pulled, Created, Started, Killing, Unhealthy for
// each failed probe attempt, BackOff, Failed), written in order by one
// goroutine that holds them back up to 5 s while pods are being
// created, a repeat raising the count of the Event already written
// (after five, written at most every 10 s) (events.go); graceful termination (preStop,
// SIGTERM, grace period, SIGKILL, network teardown, final delete with
// grace 0). Container output goes to DATA/pods/<uid>/logs/<container>/<n>.log
// and Logs reads it back (follow, previous, tail, and since and timestamps
// to about a second from a log clock that samples file sizes each second).
//
// For the kubelet API (node/kubeletapi): Exec runs a command in a running
// container through a containerd exec process (stdin, stdout, stderr, tty
// with resize; non-zero exits as k8s.io/utils/exec ExitErrors), Attach
// streams an instance's new output and writes to its stdin FIFO (taskIO,
// for spec.stdin containers), and PortForward dials 127.0.0.1:port inside
// the pod's network namespace.
//
// Probes and HTTP hooks dial from the agent's namespace (Config.HostNetNS
// in tests). hostNetwork pods run in the node's network and UTS
// namespaces with the node IP as their pod IP.
//
// RegisterNode and Heartbeat (node.go) create the Node (capacity read from
// the machine, InternalIP, podCIDR) and renew its Lease in kube-node-lease;
// every 40 s they report its conditions (nodeconditions.go): Ready, and
// MemoryPressure, DiskPressure and PIDPressure from MemAvailable, the data
// dir's free space and inodes, and free PIDs, against the kubelet's default
// hard-eviction thresholds (nothing is evicted). `skiff agent` wires them
// to the kubelet.
//
// On start the kubelet adopts the running containers of pods that still
// exist and removes containers, namespaces, veths and addresses of pods that
// are gone.
package kubelet
