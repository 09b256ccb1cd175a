package dpbench

import (
	"fmt"
	"net/netip"

	"github.com/skiffnet/skiff/internal/nstest"
)

// Address plan. Mode i (0 = direct) owns client subnet 10.200.i.0/24, the
// router links 10.(210+i).j.0/24 to backend j, and VIPs from
// 10.(64+4i).0.1 (a /14, room for MaxServices). Backend j answers on
// 10.250.0.(j+1) held on its loopback. The cluster CIDR covers every client
// subnet, so the masquerade rules are evaluated but do not fire — the same
// as pod-to-service traffic under kube-proxy.
const clusterCIDR = "10.200.0.0/16"

func clientAddr(i int) string        { return fmt.Sprintf("10.200.%d.1", i) }
func routerClientAddr(i int) string  { return fmt.Sprintf("10.200.%d.2", i) }
func routerLinkAddr(i, j int) string { return fmt.Sprintf("10.%d.%d.1", 210+i, j) }
func backendLinkAddr(i, j int) string {
	return fmt.Sprintf("10.%d.%d.2", 210+i, j)
}
func backendAddr(j int) netip.Addr { return netip.AddrFrom4([4]byte{10, 250, 0, byte(j + 1)}) }
func vipBase(i int) netip.Addr     { return netip.AddrFrom4([4]byte{10, byte(64 + 4*i), 0, 1}) }
func vipRange(i int) string        { return fmt.Sprintf("10.%d.0.0/14", 64+4*i) }

// topology is the namespaces of one run.
type topology struct {
	client   *nstest.NS
	routers  []*Router
	backends []*nstest.NS
}

// buildTopology creates the client, one router per mode and nBackends
// backend namespaces, all linked and routed.
func buildTopology(tp *nstest.Topo, modes, nBackends int) (*topology, error) {
	t := &topology{}
	var err error
	if t.client, err = tp.NS("cl"); err != nil {
		return nil, err
	}
	// Wide ephemeral range; the client never holds TIME_WAIT (servers close first).
	if _, err := t.client.Run("sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"); err != nil {
		return nil, err
	}
	for j := 0; j < nBackends; j++ {
		b, err := tp.NS(fmt.Sprintf("b%d", j))
		if err != nil {
			return nil, err
		}
		if _, err := b.Run("ip", "addr", "add", backendAddr(j).String()+"/32", "dev", "lo"); err != nil {
			return nil, err
		}
		_, _ = b.Run("sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")
		t.backends = append(t.backends, b)
	}
	for i := 0; i < modes; i++ {
		ns, err := tp.NS(fmt.Sprintf("r%d", i))
		if err != nil {
			return nil, err
		}
		r := &Router{NS: ns, ClientIf: "c", ClusterCIDR: clusterCIDR, Prefix: tp.Prefix}
		if err := tp.Veth(t.client, fmt.Sprintf("m%d", i), clientAddr(i)+"/24", ns, "c", routerClientAddr(i)+"/24"); err != nil {
			return nil, err
		}
		if _, err := ns.Run("sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
			return nil, err
		}
		// Short TIME_WAIT tracking keeps the conntrack table small across
		// repetitions; not every kernel exposes it per namespace.
		_, _ = ns.Run("sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=5")
		for j, b := range t.backends {
			bif := fmt.Sprintf("b%d", j)
			if err := tp.Veth(ns, bif, routerLinkAddr(i, j)+"/24", b, fmt.Sprintf("r%d", i), backendLinkAddr(i, j)+"/24"); err != nil {
				return nil, err
			}
			r.BackendIfs = append(r.BackendIfs, bif)
			if _, err := ns.Run("ip", "route", "add", backendAddr(j).String()+"/32", "via", backendLinkAddr(i, j)); err != nil {
				return nil, err
			}
			if _, err := b.Run("ip", "route", "add", fmt.Sprintf("10.200.%d.0/24", i), "via", routerLinkAddr(i, j)); err != nil {
				return nil, err
			}
		}
		dst := vipRange(i)
		if i == 0 {
			dst = "10.250.0.0/24"
		}
		if _, err := t.client.Run("ip", "route", "add", dst, "via", routerClientAddr(i)); err != nil {
			return nil, err
		}
		t.routers = append(t.routers, r)
	}
	return t, nil
}
