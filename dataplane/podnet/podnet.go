package podnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffnet/skiff/internal/netnsrun"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Gateway is the address every pod's default route points at. It lives on
// no interface: the pod has a permanent neighbour entry mapping it to the
// host veth's MAC, so the host receives and routes everything the pod sends.
var Gateway = netip.MustParseAddr("169.254.1.1")

// PodIfName is the pod-side interface name.
const PodIfName = "eth0"

// DefaultVethPrefix starts every host-side veth name ("skp" + 12 hex).
const DefaultVethPrefix = "skp"

// Config configures a Network.
type Config struct {
	// DataDir is the agent data dir; IPAM records go to DataDir/podnet/ipam.
	DataDir string
	// PodCIDR is the node's pod range, from the Node object.
	PodCIDR netip.Prefix
	// MTU for both veth ends; 0 takes the MTU of the host's default-route
	// interface (1500 if there is none). Overlays pass their reduced MTU.
	MTU int
	// VethPrefix starts host-side veth names (at most 8 bytes); default "skp".
	VethPrefix string
	// HostNetNS is the path of the namespace playing the node's root
	// namespace; empty means the caller's own. Tests point it at a netns.
	HostNetNS string
}

// Network wires pods into the node: one veth pair per pod, the host end in
// the node's namespace with a /32 route to the pod, the pod end eth0 with
// the pod's address and a default route via Gateway.
type Network struct {
	cfg  Config
	ipam *IPAM
	log  *slog.Logger
}

// New opens the IPAM store and turns on IPv4 forwarding in the host
// namespace (pods reach each other through the host's routes).
func New(cfg Config) (*Network, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("podnet: DataDir is required")
	}
	if cfg.VethPrefix == "" {
		cfg.VethPrefix = DefaultVethPrefix
	}
	if len(cfg.VethPrefix) > 8 {
		return nil, fmt.Errorf("podnet: veth prefix %q longer than 8 bytes", cfg.VethPrefix)
	}
	if cfg.MTU != 0 && (cfg.MTU < 576 || cfg.MTU > 65535) {
		return nil, fmt.Errorf("podnet: MTU %d out of range 576-65535", cfg.MTU)
	}
	ipam, err := OpenIPAM(filepath.Join(cfg.DataDir, "podnet", "ipam"), cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	n := &Network{cfg: cfg, ipam: ipam, log: slog.Default().With("component", "podnet", "cidr", ipam.Prefix().String())}
	err = n.inHost(func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("podnet: enable IPv4 forwarding: %w (needs root)", err)
		}
		if n.cfg.MTU == 0 {
			n.cfg.MTU = defaultRouteMTU()
		}
		return nil
	})
	if err != nil {
		ipam.Close()
		return nil, err
	}
	return n, nil
}

// IPAM is the address store.
func (n *Network) IPAM() *IPAM { return n.ipam }

// MTU is the MTU pod interfaces get.
func (n *Network) MTU() int { return n.cfg.MTU }

// Close releases the IPAM lock. Pod interfaces stay.
func (n *Network) Close() error { return n.ipam.Close() }

// HostVethName is the host-side interface name for a pod UID.
func HostVethName(prefix, uid string) string {
	sum := sha256.Sum256([]byte(uid))
	return prefix + hex.EncodeToString(sum[:])[:15-len(prefix)]
}

// Setup gives the pod whose network namespace is at netnsPath its address
// and interfaces. It is idempotent: calling it again for the same pod
// rebuilds the veth and keeps the address.
func (n *Network) Setup(ctx context.Context, pod PodRef, netnsPath string) (netip.Addr, error) {
	if pod.UID == "" {
		return netip.Addr{}, fmt.Errorf("podnet: pod %s/%s has no UID", pod.Namespace, pod.Name)
	}
	hostIf := HostVethName(n.cfg.VethPrefix, pod.UID)
	ip, err := n.ipam.Allocate(pod, hostIf, netnsPath)
	if err != nil {
		return netip.Addr{}, err
	}
	if err := n.setup(ctx, hostIf, ip, netnsPath); err != nil {
		_ = n.deleteLink(hostIf)
		if _, _, rerr := n.ipam.ReleasePod(pod.UID); rerr != nil {
			n.log.Error("release after failed setup", "pod", pod, "err", rerr)
		}
		return netip.Addr{}, fmt.Errorf("podnet: set up %s: %w", pod, err)
	}
	n.log.Info("pod network up", "pod", pod, "ip", ip, "veth", hostIf)
	return ip, nil
}

func (n *Network) setup(ctx context.Context, hostIf string, ip netip.Addr, netnsPath string) error {
	podNS, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("open pod netns %s: %w", netnsPath, err)
	}
	defer podNS.Close()
	host, err := n.hostHandle()
	if err != nil {
		return err
	}
	defer host.Close()
	podH, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return fmt.Errorf("netlink in pod netns: %w", err)
	}
	defer podH.Close()

	// A pod that is already wired (agent restart) keeps its veth: deleting
	// it would cut its connections and take it off the balancer until the
	// new veth is attached. Routes and the neighbour entry are re-asserted.
	if adopted, err := adoptLinks(host, podH, hostIf, ip); err == nil && adopted {
		return nil
	}
	// Start clean: a stale host veth (agent crashed mid-setup) or a stale
	// eth0 in the pod namespace would make the create fail.
	if l, err := host.LinkByName(hostIf); err == nil {
		_ = host.LinkDel(l)
	}
	if l, err := podH.LinkByName(PodIfName); err == nil {
		_ = podH.LinkDel(l)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: hostIf, MTU: n.cfg.MTU},
		PeerName:      PodIfName,
		PeerMTU:       uint32(n.cfg.MTU),
		PeerNamespace: netlink.NsFd(int(podNS)),
	}
	if err := host.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", hostIf, err)
	}
	hostLink, err := host.LinkByName(hostIf)
	if err != nil {
		return fmt.Errorf("find %s: %w", hostIf, err)
	}
	if err := host.LinkSetUp(hostLink); err != nil {
		return fmt.Errorf("bring up %s: %w", hostIf, err)
	}
	podLink, err := podH.LinkByName(PodIfName)
	if err != nil {
		return fmt.Errorf("find %s in pod: %w", PodIfName, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := podH.AddrAdd(podLink, addr); err != nil {
		return fmt.Errorf("add %v to pod %s: %w", ip, PodIfName, err)
	}
	if err := podH.LinkSetUp(podLink); err != nil {
		return fmt.Errorf("bring up pod %s: %w", PodIfName, err)
	}
	if lo, err := podH.LinkByName("lo"); err == nil {
		if err := podH.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bring up pod lo: %w", err)
		}
	}
	return wireRoutes(host, podH, hostLink, podLink, ip)
}

// wireRoutes sets the pod's gateway neighbour and routes and the host route
// to the pod; every step replaces, so it is safe to repeat.
func wireRoutes(host, podH *netlink.Handle, hostLink, podLink netlink.Link, ip netip.Addr) error {
	gw := Gateway.AsSlice()
	if err := podH.NeighSet(&netlink.Neigh{LinkIndex: podLink.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
		IP: gw, HardwareAddr: hostLink.Attrs().HardwareAddr}); err != nil {
		return fmt.Errorf("gateway neighbour in pod: %w", err)
	}
	if err := podH.RouteReplace(&netlink.Route{LinkIndex: podLink.Attrs().Index, Scope: netlink.SCOPE_LINK,
		Dst: &net.IPNet{IP: gw, Mask: net.CIDRMask(32, 32)}}); err != nil {
		return fmt.Errorf("gateway route in pod: %w", err)
	}
	if err := podH.RouteReplace(&netlink.Route{LinkIndex: podLink.Attrs().Index, Gw: gw,
		Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}); err != nil {
		return fmt.Errorf("default route in pod: %w", err)
	}
	if err := host.RouteReplace(&netlink.Route{LinkIndex: hostLink.Attrs().Index, Scope: netlink.SCOPE_LINK,
		Dst: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		return fmt.Errorf("host route to %v: %w", ip, err)
	}
	return nil
}

// Teardown removes the pod's veth pair (and with it the host route) and
// frees its address. It is idempotent, and works even when the pod's
// namespace is already gone (netnsPath may be empty).
func (n *Network) Teardown(ctx context.Context, pod PodRef, netnsPath string) error {
	hostIf := HostVethName(n.cfg.VethPrefix, pod.UID)
	if a, ok := n.ipam.Lookup(pod.UID); ok && a.HostVeth != "" {
		hostIf = a.HostVeth
	}
	if err := n.deleteLink(hostIf); err != nil {
		return fmt.Errorf("podnet: tear down %s: %w", pod, err)
	}
	ip, had, err := n.ipam.ReleasePod(pod.UID)
	if err != nil {
		return err
	}
	if had {
		n.log.Info("pod network down", "pod", pod, "ip", ip, "veth", hostIf)
	}
	return nil
}

func (n *Network) deleteLink(name string) error {
	host, err := n.hostHandle()
	if err != nil {
		return err
	}
	defer host.Close()
	l, err := host.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := host.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// GC frees the addresses of pods that are not live, deletes their veths,
// and deletes any host veth carrying the prefix that no allocation owns.
// The agent calls it on start, after listing the pods it still runs.
func (n *Network) GC(ctx context.Context, live func(PodRef) bool) ([]Allocation, error) {
	freed, err := n.ipam.GC(live)
	for _, a := range freed {
		if a.HostVeth != "" {
			if derr := n.deleteLink(a.HostVeth); derr != nil {
				n.log.Warn("delete veth of freed address", "veth", a.HostVeth, "err", derr)
			}
		}
		n.log.Info("freed leaked pod address", "ip", a.IP, "pod", a.Pod)
	}
	if err != nil {
		return freed, err
	}
	owned := map[string]bool{}
	for _, a := range n.ipam.ListAllocated() {
		owned[a.HostVeth] = true
	}
	names, err := n.HostVeths()
	if err != nil {
		return freed, err
	}
	for _, name := range names {
		if owned[name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return freed, err
		}
		n.log.Info("deleting orphaned pod veth", "veth", name)
		if err := n.deleteLink(name); err != nil {
			return freed, err
		}
	}
	return freed, nil
}

// HostVeths lists host-side veths whose name starts with the prefix.
func (n *Network) HostVeths() ([]string, error) {
	host, err := n.hostHandle()
	if err != nil {
		return nil, err
	}
	defer host.Close()
	links, err := host.LinkList()
	if err != nil {
		return nil, fmt.Errorf("podnet: list links: %w", err)
	}
	var out []string
	for _, l := range links {
		if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, n.cfg.VethPrefix) {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

func (n *Network) hostHandle() (*netlink.Handle, error) {
	if n.cfg.HostNetNS == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		return h, nil
	}
	ns, err := netns.GetFromPath(n.cfg.HostNetNS)
	if err != nil {
		return nil, fmt.Errorf("open host netns %s: %w", n.cfg.HostNetNS, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", n.cfg.HostNetNS, err)
	}
	return h, nil
}

// inHost runs f on a thread in the host namespace (for /proc/sys writes).
func (n *Network) inHost(f func() error) error {
	if n.cfg.HostNetNS == "" {
		return f()
	}
	return netnsrun.InPath(n.cfg.HostNetNS, f)
}

// defaultRouteMTU is the MTU of the interface holding the IPv4 default
// route in the current namespace, or 1500.
func defaultRouteMTU() int {
	routes, err := netlink.RouteList(nil, unix.AF_INET)
	if err != nil {
		return 1500
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask) {
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU >= 576 {
				return l.Attrs().MTU
			}
		}
	}
	return 1500
}

func isZeroMask(m net.IPMask) bool {
	ones, _ := m.Size()
	return ones == 0
}
