package loader

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The netlink fallback for kernels without TCX: a clsact qdisc with one
// direct-action BPF filter at a fixed priority/handle, replaced atomically
// on re-attach.
const (
	filterPrio   = 1
	filterHandle = 0x5c1ff
	filterName   = "skiff-lb"
)

type direction struct {
	name   string
	tcx    ebpf.AttachType
	parent uint32
}

var (
	ingress = direction{"ingress", ebpf.AttachTCXIngress, netlink.HANDLE_MIN_INGRESS}
	egress  = direction{"egress", ebpf.AttachTCXEgress, netlink.HANDLE_MIN_EGRESS}
)

func ifIndex(h *netlink.Handle, name string) (int, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %q: %w (check the name and the network namespace)", name, err)
	}
	return l.Attrs().Index, nil
}

func attachClsact(h *netlink.Handle, ifindex int, dir direction, prog *ebpf.Program) error {
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := h.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: dir.parent,
			Handle: filterHandle, Priority: filterPrio, Protocol: unix.ETH_P_ALL},
		Fd: prog.FD(), Name: filterName, DirectAction: true,
	}
	if err := h.FilterReplace(f); err != nil {
		return fmt.Errorf("replace tc filter: %w", err)
	}
	return nil
}

func detachClsact(h *netlink.Handle, ifname string) error {
	l, err := h.LinkByName(ifname)
	if err != nil {
		return nil // interface gone: nothing attached any more
	}
	var errs []error
	for _, dir := range []direction{ingress, egress} {
		f := &netlink.BpfFilter{FilterAttrs: netlink.FilterAttrs{LinkIndex: l.Attrs().Index, Parent: dir.parent,
			Handle: filterHandle, Priority: filterPrio, Protocol: unix.ETH_P_ALL}}
		if err := h.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete tc %s filter on %s: %w", dir.name, ifname, err))
		}
	}
	return errors.Join(errs...)
}
