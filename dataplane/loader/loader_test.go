package loader

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/internal/nstest"
)

func TestOpenRejectsBadNode(t *testing.T) {
	for _, n := range []string{"", "a/b", ".."} {
		if _, err := Open(Options{Node: n}); err == nil {
			t.Fatalf("node %q accepted", n)
		}
	}
}

func TestPrivilegedPinReadoptRemove(t *testing.T) {
	nstest.RequirePrivileged(t)
	tp := nstest.New(t)
	ns, err := tp.NS("ld")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := tp.NS("lp")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(ns, "d0", "", peer, "p0", ""); err != nil {
		t.Fatal(err)
	}
	node := tp.Prefix
	t.Cleanup(func() { _ = RemovePins("", node) })

	for _, mode := range []struct {
		name    string
		netlink bool
	}{{"tcx", false}, {"clsact", true}} {
		t.Run(mode.name, func(t *testing.T) {
			opts := Options{Node: node, Ifaces: []string{"d0"}, Sizes: lb.Sizes{Conntrack: 1024}, ForceNetlink: mode.netlink}
			var dp *Dataplane
			open := func(o Options) error {
				return ns.Do(func() (err error) { dp, err = Open(o); return err })
			}
			if err := open(opts); err != nil {
				t.Fatal(err)
			}
			if info, err := dp.Maps().CT.Info(); err != nil || info.MaxEntries != 1024 {
				t.Fatalf("conntrack size %+v %v, want 1024", info, err)
			}
			for _, name := range lb.MapNames {
				if _, err := os.Stat(filepath.Join(DefaultPinRoot, node, "maps", name)); err != nil {
					t.Fatalf("map %s not pinned: %v", name, err)
				}
			}
			k := lb.CTKey{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.96.0.1"), SrcPort: 1, DstPort: 80, Proto: lb.ProtoTCP}
			if err := dp.Maps().PutCT(k, lb.CTEntry{NATAddr: netip.MustParseAddr("10.2.0.1"), RevAddr: k.Src, NATPort: 8080, RevPort: 1}); err != nil {
				t.Fatal(err)
			}
			attached := func() string {
				if mode.netlink {
					return ns.MustRun(t, "tc", "filter", "show", "dev", "d0", "ingress") + ns.MustRun(t, "tc", "filter", "show", "dev", "d0", "egress")
				}
				var names []string
				err := ns.Do(func() error {
					ifc, err := net.InterfaceByName("d0")
					if err != nil {
						return err
					}
					for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
						res, err := link.QueryPrograms(link.QueryOptions{Target: ifc.Index, Attach: at})
						if err != nil {
							return err
						}
						for _, p := range res.Programs {
							prog, err := ebpf.NewProgramFromID(p.ID)
							if err != nil {
								return err
							}
							info, err := prog.Info()
							prog.Close()
							if err != nil {
								return err
							}
							names = append(names, info.Name)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return strings.Join(names, " ")
			}
			before := attached()
			if !strings.Contains(before, "lb_ingress") || !strings.Contains(before, "lb_egress") {
				t.Fatalf("programs not attached:\n%s", before)
			}
			// Restart: the conntrack entry survives, the attachment is
			// updated in place (still exactly one of each).
			if err := dp.Close(); err != nil {
				t.Fatal(err)
			}
			if err := open(opts); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := dp.Maps().LookupCT(k); err != nil || !ok {
				t.Fatalf("conntrack entry lost across restart: %v", err)
			}
			after := attached()
			if strings.Count(after, "lb_ingress") != 1 || strings.Count(after, "lb_egress") != 1 {
				t.Fatalf("after re-adopt:\n%s", after)
			}
			// Different sizes against pinned maps: a clear error.
			dp.Close()
			bad := opts
			bad.Sizes.Conntrack = 2048
			if err := open(bad); err == nil || !strings.Contains(err.Error(), "skiff bpf remove") {
				t.Fatalf("size change accepted or unclear: %v", err)
			}
			if err := open(opts); err != nil {
				t.Fatal(err)
			}
			if err := dp.Remove(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(DefaultPinRoot, node)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("pins left after Remove: %v", err)
			}
			if out := attached(); strings.Contains(out, "lb_") {
				t.Fatalf("still attached after Remove:\n%s", out)
			}
		})
	}
}

func TestEnsureBPFFSRejectsOtherPaths(t *testing.T) {
	if err := EnsureBPFFS(t.TempDir()); err == nil {
		t.Fatal("a tmpfs directory passed as bpffs")
	}
}

// Attach from a goroutine outside Open's namespace still attaches with TCX
// in that namespace (the kernel resolves the ifindex in the caller's
// namespace), rather than falling back to a tc filter.
func TestPrivilegedAttachFromAnyGoroutineUsesTCX(t *testing.T) {
	nstest.RequirePrivileged(t)
	tp := nstest.New(t)
	ns, err := tp.NS("ld")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := tp.NS("lp")
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Veth(ns, "d0", "", peer, "p0", ""); err != nil {
		t.Fatal(err)
	}
	node := tp.Prefix
	t.Cleanup(func() { _ = RemovePins("", node) })
	var dp *Dataplane
	if err := ns.Do(func() (err error) { dp, err = Open(Options{Node: node, Sizes: lb.Sizes{Conntrack: 1024}}); return err }); err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if err := dp.Attach("d0", false); err != nil {
		t.Fatal(err)
	}
	if len(dp.netlink) != 0 {
		t.Fatal("attached with a tc filter, want TCX")
	}
	for _, dir := range []string{"ingress", "egress"} {
		if _, err := os.Stat(filepath.Join(DefaultPinRoot, node, "links", "tcx-"+dir+"-d0")); err != nil {
			t.Fatalf("TCX %s link not pinned: %v", dir, err)
		}
	}
	if _, err := net.InterfaceByName("d0"); err == nil {
		t.Fatal("the test goroutine's thread was left in the test namespace")
	}
}
