package podnet

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// adoptLinks keeps an existing, consistent veth pair of a pod: the host end
// hostIf is a veth, the pod's eth0 carries ip/32. It brings both up and
// re-asserts routes. adopted=false means the pair must be recreated.
func adoptLinks(host, podH *netlink.Handle, hostIf string, ip netip.Addr) (bool, error) {
	hostLink, err := host.LinkByName(hostIf)
	if err != nil {
		return false, nil
	}
	if _, ok := hostLink.(*netlink.Veth); !ok {
		return false, nil
	}
	podLink, err := podH.LinkByName(PodIfName)
	if err != nil {
		return false, nil
	}
	addrs, err := podH.AddrList(podLink, unix.AF_INET)
	if err != nil {
		return false, err
	}
	has := false
	for _, a := range addrs {
		if ones, _ := a.Mask.Size(); ones == 32 && a.IP.Equal(ip.AsSlice()) {
			has = true
		}
	}
	if !has {
		return false, nil
	}
	if err := host.LinkSetUp(hostLink); err != nil {
		return false, err
	}
	if err := podH.LinkSetUp(podLink); err != nil {
		return false, err
	}
	if lo, err := podH.LinkByName("lo"); err == nil {
		if err := podH.LinkSetUp(lo); err != nil {
			return false, err
		}
	}
	if err := wireRoutes(host, podH, hostLink, podLink, ip); err != nil {
		return false, err
	}
	return true, nil
}
