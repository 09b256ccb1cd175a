package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/internal/netnsrun"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DefaultPinRoot is where Skiff pins BPF objects, one directory per node.
const DefaultPinRoot = "/sys/fs/bpf/skiff"

// Options say what to load and where to attach it.
type Options struct {
	// Node names the pin directory <PinRoot>/<Node>; required.
	Node string
	// Ifaces are the interfaces (in the calling thread's network
	// namespace) whose TC ingress gets the balancer.
	Ifaces []string
	// PinRoot defaults to DefaultPinRoot.
	PinRoot string
	// HairpinAddr is the source address given to hairpin flows (a backend
	// reaching its own service) so the reply comes back through the node.
	// It must not be assigned on the node (packets "from" a local address
	// are dropped as martians) and backends must route it to the node,
	// e.g. a link-local 169.254.x.y. Leave unset to disable hairpin SNAT.
	HairpinAddr netip.Addr
	// Conntrack idle timeouts (zero: 6 h TCP, 60 s UDP, 10 s closing).
	TCPTimeout, UDPTimeout, ClosingTimeout time.Duration
	// Sizes of the maps (zero: compiled-in defaults). Changing a size of
	// an already pinned map fails: Remove the node's pins first.
	Sizes lb.Sizes
	// NodeIP, when valid, is what the socket-level balancer (AttachCgroup)
	// looks 127.0.0.1:port up as when 127.0.0.1:port is no frontend, so
	// the node reaches hostPorts (published on nodeIP) through loopback.
	NodeIP netip.Addr
	// ForceNetlink attaches with a clsact qdisc and tc filter even where
	// TCX works (kernels before 6.6 always use this path).
	ForceNetlink bool
}

// Dataplane is a loaded, pinned and attached balancer.
type Dataplane struct {
	objs    *lb.Objects
	dir     string
	links   map[string]link.Link // "ingress/eth0" -> TCX link
	netlink map[string]bool      // iface -> attached by tc filter
	nl      *netlink.Handle      // netlink in the namespace Open ran in
	nsh     netns.NsHandle
}

// Maps is the typed map API of the loaded balancer.
func (d *Dataplane) Maps() *lb.Maps { return &d.objs.Maps }

// Program is the loaded TC program.
func (d *Dataplane) Program() *ebpf.Program { return d.objs.Program }

// PinDir is <PinRoot>/<Node>.
func (d *Dataplane) PinDir() string { return d.dir }

// Open loads the balancer, re-using pinned maps of the same node, pins what
// is new and attaches (or re-attaches in place) to every interface.
func Open(opts Options) (*Dataplane, error) {
	if opts.Node == "" || strings.ContainsAny(opts.Node, "/.") {
		return nil, fmt.Errorf("node name %q is empty or has '/' or '.': give a plain node name", opts.Node)
	}
	root := opts.PinRoot
	if root == "" {
		root = DefaultPinRoot
	}
	if err := EnsureBPFFS(filepath.Dir(root)); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, opts.Node)
	for _, sub := range []string{"maps", "links"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("create pin directory: %w (is %s on bpffs?)", err, root)
		}
	}
	// The socket-level programs (AttachCgroup) handle sockets of this
	// network namespace only; pods are balanced at their veths.
	cookie, err := lb.NetnsCookie()
	if err != nil {
		slog.Warn("socket-level balancing will also apply to pods' sockets in the cgroup", "err", err)
		cookie = 0
	}
	spec, err := lb.Spec(lb.Config{HairpinAddr: opts.HairpinAddr, TCPTimeout: opts.TCPTimeout,
		UDPTimeout: opts.UDPTimeout, ClosingTimeout: opts.ClosingTimeout, SockNetnsCookie: cookie,
		SockLoopbackAlias: opts.NodeIP}, opts.Sizes)
	if err != nil {
		return nil, err
	}
	for _, name := range lb.MapNames {
		spec.Maps[name].Pinning = ebpf.PinByName
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: filepath.Join(dir, "maps")}})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load lb program: %+v", ve)
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("pinned maps in %s differ from the requested ones (size or layout): run 'skiff bpf remove -node %s' (drops conntrack state) or keep the old sizes: %w", dir, opts.Node, err)
		}
		return nil, fmt.Errorf("load lb program: %w", err)
	}
	objs, err := lb.FromCollection(coll)
	if err != nil {
		return nil, err
	}
	nsh, err := netns.Get()
	if err != nil {
		objs.Close()
		return nil, fmt.Errorf("open current network namespace: %w", err)
	}
	nl, err := netlink.NewHandleAt(nsh)
	if err != nil {
		nsh.Close()
		objs.Close()
		return nil, fmt.Errorf("netlink in current network namespace: %w", err)
	}
	d := &Dataplane{objs: objs, dir: dir, links: map[string]link.Link{}, netlink: map[string]bool{}, nl: nl, nsh: nsh}
	for _, ifname := range opts.Ifaces {
		if err := d.Attach(ifname, opts.ForceNetlink); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// EnsureBPFFS mounts bpffs at dir (normally /sys/fs/bpf) unless it is one.
func EnsureBPFFS(dir string) error {
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		var st unix.Statfs_t
		if err := unix.Statfs(d, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
			return nil
		}
	}
	mnt := "/sys/fs/bpf"
	if !strings.HasPrefix(dir, mnt) {
		return fmt.Errorf("%s is not on bpffs: pin under /sys/fs/bpf or mount bpffs there", dir)
	}
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("bpf", mnt, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs at %s: %w (run as root or mount it: mount -t bpf bpf %s)", mnt, err, mnt)
	}
	slog.Info("mounted bpffs", "path", mnt)
	return nil
}

// Attach (from any goroutine: it acts in Open's network namespace) puts the
// balancer on the TC ingress of ifname and the ICMP-error
// translator on its egress. Pinned links from an earlier run are updated in
// place (there is no moment without a program).
func (d *Dataplane) Attach(ifname string, forceNetlink bool) error {
	ifindex, err := ifIndex(d.nl, ifname)
	if err != nil {
		return err
	}
	for _, dir := range []direction{ingress, egress} {
		prog := d.objs.Program
		if dir == egress {
			prog = d.objs.Egress
		}
		if !forceNetlink {
			l, err := d.attachTCX(ifname, ifindex, dir, prog)
			if err == nil {
				d.links[dir.name+"/"+ifname] = l
				continue
			}
			slog.Info("TCX attach failed, falling back to tc clsact", "iface", ifname, "direction", dir.name, "err", err)
		}
		if err := attachClsact(d.nl, ifindex, dir, prog); err != nil {
			return fmt.Errorf("attach %s of %s: %w", dir.name, ifname, err)
		}
		d.netlink[ifname] = true
	}
	return nil
}

func (d *Dataplane) attachTCX(ifname string, ifindex int, dir direction, prog *ebpf.Program) (link.Link, error) {
	pin := filepath.Join(d.dir, "links", "tcx-"+dir.name+"-"+ifname)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		info, ierr := l.Info()
		if ierr == nil && info.TCX() != nil && int(info.TCX().Ifindex) == ifindex {
			if err := l.Update(prog); err != nil {
				l.Close()
				return nil, fmt.Errorf("update pinned link: %w", err)
			}
			slog.Debug("re-adopted TCX link", "iface", ifname, "direction", dir.name)
			return l, nil
		}
		// The interface was recreated: the old link is defunct.
		_ = l.Unpin()
		l.Close()
	}
	// The kernel resolves ifindex in the calling thread's namespace: attach
	// from a thread in Open's namespace, whichever goroutine calls Attach.
	var l link.Link
	err := netnsrun.In(d.nsh, func() (err error) {
		l, err = link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: dir.tcx})
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := l.Pin(pin); err != nil {
		l.Close()
		return nil, fmt.Errorf("pin TCX link: %w", err)
	}
	return l, nil
}

// Close releases this process's handles; pins and attachments stay, so the
// datapath keeps working without the process.
func (d *Dataplane) Close() error {
	for _, l := range d.links {
		l.Close()
	}
	d.release()
	return d.objs.Close()
}

func (d *Dataplane) release() {
	if d.nl != nil {
		d.nl.Close()
		d.nl = nil
		d.nsh.Close()
	}
}

// Remove detaches from every interface this Dataplane attached and deletes
// the node's pins (all conntrack state is lost).
func (d *Dataplane) Remove() error {
	var errs []error
	for name, l := range d.links {
		if err := l.Unpin(); err != nil {
			errs = append(errs, err)
		}
		l.Close()
		delete(d.links, name)
	}
	for ifname := range d.netlink {
		if d.nl == nil {
			errs = append(errs, fmt.Errorf("tc filters on %s: dataplane already closed; remove them with 'tc filter del dev %s ingress/egress' in its namespace", ifname, ifname))
			continue
		}
		if err := detachClsact(d.nl, ifname); err != nil {
			errs = append(errs, err)
		}
	}
	d.release()
	d.objs.Close()
	if err := os.RemoveAll(d.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RunGC removes expired conntrack entries every interval until ctx ends.
func (d *Dataplane) RunGC(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := d.Maps().GCConntrack(lb.Monotonic())
			if err != nil {
				slog.Warn("conntrack garbage collection failed; will retry", "err", err)
			} else if n > 0 {
				slog.Debug("conntrack garbage collected", "entries", n)
			}
		}
	}
}

// OpenPinnedMaps opens the maps pinned for a node (for inspection tools).
func OpenPinnedMaps(pinRoot, node string) (*lb.Maps, error) {
	if pinRoot == "" {
		pinRoot = DefaultPinRoot
	}
	dir := filepath.Join(pinRoot, node, "maps")
	open := func(name string) (*ebpf.Map, error) {
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("open pinned map %s: %w (is the dataplane of node %q loaded? see %s)", name, err, node, pinRoot)
		}
		return m, nil
	}
	ms := make([]*ebpf.Map, len(lb.MapNames))
	for i, name := range lb.MapNames {
		m, err := open(name)
		if err != nil {
			if lb.OptionalMaps[name] && errors.Is(err, os.ErrNotExist) {
				continue // pinned by an older Skiff
			}
			for _, o := range ms[:i] {
				if o != nil {
					o.Close()
				}
			}
			return nil, err
		}
		ms[i] = m
	}
	return &lb.Maps{Services: ms[0], Slots: ms[1], Backends: ms[2], Maglev: ms[3], CT: ms[4], Affinity: ms[5], Stats: ms[6],
		DNS: ms[7], DNSStats: ms[8], SockXlate: ms[9], SockStats: ms[10]}, nil
}

// OpenPinnedDNS opens, for writing, the node-local DNS steering map pinned
// for a node; only the DNS field of the result is set. dns/nodelocal uses it
// to write its heartbeat into the dataplane the service proxy loaded.
func OpenPinnedDNS(pinRoot, node string) (*lb.Maps, error) {
	if pinRoot == "" {
		pinRoot = DefaultPinRoot
	}
	path := filepath.Join(pinRoot, node, "maps", lb.DNSMapName)
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open pinned map %s: %w (is the service dataplane of node %q loaded?)", path, err, node)
	}
	return &lb.Maps{DNS: m}, nil
}

// RemovePins detaches every pinned TCX link of a node and deletes its pin
// directory (maps included). tc filters from the netlink fallback live in
// their network namespace and are not touched.
func RemovePins(pinRoot, node string) error {
	if pinRoot == "" {
		pinRoot = DefaultPinRoot
	}
	if node == "" || strings.ContainsAny(node, "/.") {
		return fmt.Errorf("node name %q is empty or has '/' or '.'", node)
	}
	dir := filepath.Join(pinRoot, node)
	ents, _ := os.ReadDir(filepath.Join(dir, "links"))
	for _, e := range ents {
		l, err := link.LoadPinnedLink(filepath.Join(dir, "links", e.Name()), nil)
		if err != nil {
			continue
		}
		_ = l.Unpin()
		l.Close()
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no pins for node %q under %s", node, pinRoot)
	}
	return os.RemoveAll(dir)
}

// PinnedNodes lists the node directories under pinRoot.
func PinnedNodes(pinRoot string) ([]string, error) {
	if pinRoot == "" {
		pinRoot = DefaultPinRoot
	}
	ents, err := os.ReadDir(pinRoot)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
