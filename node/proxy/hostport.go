package proxy

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/skiffnet/skiff/dataplane/services"
	"github.com/skiffnet/skiff/internal/netnsrun"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// hostPort is one container port published on a node address: the balancer
// entry (Addr, HostPort, Protocol) → (PodIP, ContainerPort).
type hostPort struct {
	Addr          netip.Addr
	HostPort      uint16
	Protocol      services.Proto
	PodIP         netip.Addr
	ContainerPort uint16
}

func (h hostPort) key() services.Key {
	return services.Key{VIP: h.Addr, Port: h.HostPort, Protocol: h.Protocol}
}

// podHostPorts lists the hostPorts pod publishes on this node: none unless
// the pod is bound to node, Running, not being deleted, has an IPv4 pod IP
// and is not on the host network (there the container binds the port on
// the node itself). hostIP empty or unspecified means nodeIP; without a
// valid nodeIP such ports are skipped. Ports of other protocols than TCP
// and UDP, IPv6 and loopback host IPs are skipped too.
func podHostPorts(pod *corev1.Pod, node string, nodeIP netip.Addr) []hostPort {
	if pod == nil || pod.Spec.NodeName != node || pod.Spec.HostNetwork || pod.DeletionTimestamp != nil ||
		pod.Status.Phase != corev1.PodRunning {
		return nil
	}
	podIP, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil || !podIP.Is4() || podIP.IsUnspecified() {
		return nil
	}
	var out []hostPort
	add := func(c *corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 || p.HostPort > 65535 || p.ContainerPort <= 0 || p.ContainerPort > 65535 {
				continue
			}
			proto, ok := protoOf(p.Protocol)
			if !ok {
				continue
			}
			addr := nodeIP
			if p.HostIP != "" {
				a, err := netip.ParseAddr(p.HostIP)
				if err != nil {
					continue
				}
				if !a.IsUnspecified() {
					addr = a.Unmap()
				}
			}
			if !addr.Is4() || addr.IsUnspecified() || addr.IsLoopback() {
				continue // loopback: only the node reaches it, never through TC
			}
			out = append(out, hostPort{Addr: addr, HostPort: uint16(p.HostPort), Protocol: proto,
				PodIP: podIP, ContainerPort: uint16(p.ContainerPort)})
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		// Sidecars (restartPolicy Always) run alongside the pod's containers.
		if c := &pod.Spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return out
}

// hostPortServices turns the hostPorts of pods into single-backend balancer
// entries, sorted by key. When two pods claim one (address, port,
// protocol), the older pod (then the smaller namespace/name) keeps it; the
// losers are returned as conflicts, e.g. "ns/b: 10.0.0.5:80/TCP".
func hostPortServices(pods []*corev1.Pod, node string, nodeIP netip.Addr) ([]services.Service, []string) {
	pods = slices.Clone(pods)
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	owner := map[services.Key]hostPort{}
	var conflicts []string
	for _, pod := range pods {
		for _, h := range podHostPorts(pod, node, nodeIP) {
			if prev, taken := owner[h.key()]; taken {
				if prev != h {
					conflicts = append(conflicts, fmt.Sprintf("%s/%s: %s", pod.Namespace, pod.Name, h.key()))
				}
				continue
			}
			owner[h.key()] = h
		}
	}
	out := make([]services.Service, 0, len(owner))
	for k, h := range owner {
		out = append(out, services.Service{VIP: k.VIP, Port: k.Port, Protocol: k.Protocol,
			Backends: []services.Backend{{Addr: h.PodIP, Port: h.ContainerPort}}})
	}
	slices.SortFunc(out, func(a, b services.Service) int {
		return cmp.Or(a.VIP.Compare(b.VIP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
	})
	return out, conflicts
}

// mergeHostPorts appends the hostPort entries to the Services' ones. A
// Service frontend wins over a hostPort on the same key (it is not
// expected: Services live on VIPs, hostPorts on node addresses); such
// hostPorts are returned as conflicts.
func mergeHostPorts(svcs, hps []services.Service) ([]services.Service, []string) {
	taken := make(map[services.Key]bool, len(svcs))
	for _, s := range svcs {
		taken[s.Key()] = true
	}
	out := slices.Clip(svcs)
	var conflicts []string
	for _, h := range hps {
		if taken[h.Key()] {
			conflicts = append(conflicts, fmt.Sprintf("%s (a Service uses it)", h.Key()))
			continue
		}
		out = append(out, h)
	}
	return out, conflicts
}

// hostPortsChanged reports whether a pod event can change the hostPort
// entries, so status-only updates of ordinary pods cause no sync.
func (p *Proxy) hostPortsChanged(old, cur any) bool {
	return !slices.Equal(p.podHostPortsOf(old), p.podHostPortsOf(cur))
}

func (p *Proxy) podHostPortsOf(obj any) []hostPort {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return podHostPorts(pod, p.cfg.Node, p.cfg.NodeIP)
}

// uplinkName is the interface that carries the node IP (Config.Uplink if
// set), where hostPort traffic from other machines enters.
// errLoopbackNodeIP: a node whose IP sits on loopback (a single-machine
// test cluster) has no uplink; its hostPorts are reachable from pods only.
var errLoopbackNodeIP = errors.New("the node IP is on the loopback interface, so no uplink is attached; hostPorts are reachable from pods on this node only (give --node-ip a routable address)")

func (p *Proxy) uplinkName() (string, error) {
	if p.cfg.Uplink != "" {
		return p.cfg.Uplink, nil
	}
	addrs, err := p.nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == p.cfg.NodeIP {
			l, err := p.nl.LinkByIndex(a.LinkIndex)
			if err != nil {
				return "", fmt.Errorf("interface of node IP %s: %w", p.cfg.NodeIP, err)
			}
			if l.Attrs().Flags&net.FlagLoopback != 0 {
				return "", errLoopbackNodeIP
			}
			return l.Attrs().Name, nil
		}
	}
	return "", fmt.Errorf("no interface holds node IP %s: check --node-ip", p.cfg.NodeIP)
}

// vethSysctls lets a pod veth accept the reverse-translated replies the
// balancer makes at its TC ingress, before the routing decision:
// accept_local=1 because hostPort replies get a node address as source
// (the kernel drops them as martians otherwise), and rp_filter=0 because
// no reply with a Service VIP or node address as source is routed via the
// veth, which has no address (Debian's systemd sets rp_filter=2 on every
// new interface). The kernel uses the larger of the interface's and
// conf/all's rp_filter, so a non-zero conf/all is reported.
func (p *Proxy) vethSysctls(ifname string) error {
	if ifname == "" || strings.ContainsAny(ifname, "/.") {
		return fmt.Errorf("bad interface name %q", ifname)
	}
	// /proc/sys/net shows the namespace of the thread that opens it.
	return netnsrun.In(p.nsh, func() error {
		dir := "/proc/sys/net/ipv4/conf/"
		for _, kv := range [][2]string{{"accept_local", "1"}, {"rp_filter", "0"}} {
			if err := os.WriteFile(dir+ifname+"/"+kv[0], []byte(kv[1]+"\n"), 0o644); err != nil {
				return err
			}
		}
		if b, err := os.ReadFile(dir + "all/rp_filter"); err == nil && strings.TrimSpace(string(b)) != "0" {
			return fmt.Errorf("net.ipv4.conf.all.rp_filter is %s: replies of Services and hostPorts are dropped; set it to 0",
				strings.TrimSpace(string(b)))
		}
		return nil
	})
}
