package nodelocal

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ensureInterface makes name a dummy interface (ifb on kernels without the
// dummy driver) that is up and carries addr/32. It is idempotent: an existing interface and address are kept, so
// it runs on every heartbeat and repairs a deleted interface or address.
// It reports whether it had to change anything.
func ensureInterface(h *netlink.Handle, name string, addr netip.Addr) (bool, error) {
	changed := false
	l, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return false, fmt.Errorf("look up interface %s: %w", name, err)
		}
		attrs := netlink.LinkAttrs{Name: name}
		err := h.LinkAdd(&netlink.Dummy{LinkAttrs: attrs})
		if errors.Is(err, unix.EOPNOTSUPP) {
			// A kernel built without CONFIG_DUMMY: an ifb device is an
			// equally inert holder for a local address.
			err = h.LinkAdd(&netlink.Ifb{LinkAttrs: attrs})
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return false, fmt.Errorf("create dummy interface %s: %w (is the dummy or ifb module available and are we root?)", name, err)
		}
		if l, err = h.LinkByName(name); err != nil {
			return false, fmt.Errorf("look up interface %s after creating it: %w", name, err)
		}
		changed = true
	}
	if l.Type() != "dummy" && l.Type() != "ifb" {
		return false, fmt.Errorf("interface %s exists but is a %s, not a dummy: remove it or pick another interface name", name, l.Type())
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return false, fmt.Errorf("set %s up: %w", name, err)
		}
		changed = true
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("list addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return changed, nil
		}
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := h.AddrAdd(l, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return false, fmt.Errorf("add %s/32 to %s: %w", addr, name, err)
	}
	return true, nil
}
