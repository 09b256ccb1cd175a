package nodeip

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Iface is one interface as the chooser sees it.
type Iface struct {
	Index int
	Name  string
	Up    bool
	Kind  string // netlink link type: "device", "veth", "bridge", "vxlan", ...
	Addrs []netip.Prefix
}

// vagrantNAT is VirtualBox's NAT network; its 10.0.2.15 is the same on every
// VM and reaches none of the others.
var vagrantNAT = netip.MustParsePrefix("10.0.2.0/24")

// ignoredPrefixes are interface names of container networking, Skiff's own
// included.
var ignoredPrefixes = []string{"skp", "skiffdns", "skv", "veth", "docker", "br-", "cni", "flannel", "cali", "cilium", "kube-", "virbr", "lxc"}

// ignoredKinds are link types that never carry the node's own address.
var ignoredKinds = map[string]bool{"veth": true, "bridge": true, "vxlan": true, "dummy": true, "ifb": true, "tun": true, "wireguard": true}

// Choose picks the InternalIP from ifaces; defaultIf is the index of the
// default route's interface (0 when there is none).
func Choose(ifaces []Iface, defaultIf int) (netip.Addr, string, error) {
	type cand struct {
		addr  netip.Addr
		iface Iface
	}
	var cands []cand
	var skipped []string
	for _, ifc := range ifaces {
		if !ifc.Up || ignoredKinds[ifc.Kind] || hasIgnoredPrefix(ifc.Name) {
			continue
		}
		for _, p := range ifc.Addrs {
			a := p.Addr()
			switch {
			case !a.Is4() || a.IsLoopback() || a.IsLinkLocalUnicast() || !a.IsGlobalUnicast():
				continue
			case vagrantNAT.Contains(a):
				skipped = append(skipped, fmt.Sprintf("%s on %s (VirtualBox/Vagrant NAT)", a, ifc.Name))
				continue
			}
			cands = append(cands, cand{a, ifc})
		}
	}
	if len(cands) == 0 {
		msg := "no routable IPv4 address on this machine"
		if len(skipped) > 0 {
			msg += " (skipped " + strings.Join(skipped, ", ") + ")"
		}
		return netip.Addr{}, "", errors.New(msg + ": give the node's address with --node-ip")
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].iface.Index < cands[j].iface.Index })
	for _, c := range cands {
		if c.iface.Index == defaultIf {
			return c.addr, fmt.Sprintf("address of %s, the default route's interface", c.iface.Name), nil
		}
	}
	why := fmt.Sprintf("first address of %s (the default route's interface has no usable address)", cands[0].iface.Name)
	if len(skipped) > 0 {
		why += "; skipped " + strings.Join(skipped, ", ")
	}
	return cands[0].addr, why, nil
}

func hasIgnoredPrefix(name string) bool {
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Detect reads this machine's interfaces and default route and chooses.
func Detect() (netip.Addr, string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return netip.Addr{}, "", fmt.Errorf("list interfaces: %w (give --node-ip)", err)
	}
	var ifaces []Iface
	for _, l := range links {
		a := l.Attrs()
		ifc := Iface{Index: a.Index, Name: a.Name, Up: a.Flags&unix.IFF_UP != 0, Kind: l.Type()}
		addrs, err := netlink.AddrList(l, unix.AF_INET)
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if ip, ok := netip.AddrFromSlice(ad.IP.To4()); ok {
				ones, _ := ad.Mask.Size()
				ifc.Addrs = append(ifc.Addrs, netip.PrefixFrom(ip, ones))
			}
		}
		ifaces = append(ifaces, ifc)
	}
	defaultIf := 0
	if routes, err := netlink.RouteList(nil, unix.AF_INET); err == nil {
		for _, r := range routes {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask) {
				defaultIf = r.LinkIndex
				break
			}
		}
	}
	return Choose(ifaces, defaultIf)
}

func isZeroMask(m []byte) bool {
	for _, b := range m {
		if b != 0 {
			return false
		}
	}
	return true
}
