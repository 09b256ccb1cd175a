package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dataplane/services"
	"github.com/skiffnet/skiff/internal/nodepods"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// ProgrammingLatency is the time from an API change reaching the agent to
// the map write that makes it visible to packets.
var ProgrammingLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
	Name:    "skiff_proxy_programming_seconds",
	Help:    "Time from a Service or EndpointSlice change arriving to the BPF map write.",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
})

func init() { prometheus.MustRegister(ProgrammingLatency) }

// Config configures the proxy.
type Config struct {
	Node   string
	Client kubernetes.Interface
	// Informers, when set, is the shared factory Services and
	// EndpointSlices are watched through (the agent's kubelet reads the
	// same Services); Run starts it. Default: a factory of its own.
	Informers informers.SharedInformerFactory
	// Pods, when set, is the agent's shared watch of this node's pods
	// (internal/nodepods), for hostPorts; Run starts it. Default: a watch
	// of its own.
	Pods       informers.SharedInformerFactory
	VethPrefix string        // host-side pod veths to attach to; default "skp"
	Coalesce   time.Duration // default 20ms
	// AttachEvery is how often pod veths are scanned for, besides the
	// netlink link updates that wake the attach loop at once; default 300ms.
	AttachEvery time.Duration
	PinRoot     string // default loader.DefaultPinRoot
	// NodeIP is the node's InternalIP: hostPorts without a hostIP are
	// published on it, and the interface holding it (the uplink) gets the
	// balancer so other machines reach them. Unset: no uplink attachment,
	// only hostPorts with an explicit hostIP.
	NodeIP netip.Addr
	// Uplink overrides the interface found from NodeIP.
	Uplink string
	// SockCgroup is the cgroup v2 directory whose processes (and their
	// descendants') connections from the node's network namespace to
	// Services and hostPorts are balanced at the socket (bpf/lb sock.h):
	// CgroupAuto for the cgroup v2 root, "" or "-" to disable (the links
	// an earlier run pinned are then removed).
	SockCgroup string
}

// CgroupAuto as Config.SockCgroup attaches the socket-level balancer to the
// cgroup v2 root (loader.DefaultCgroupPath): every process on the node.
const CgroupAuto = "auto"

// Proxy keeps the dataplane equal to the API's Services × EndpointSlices
// plus the hostPorts of this node's pods.
type Proxy struct {
	cfg       Config
	dp        *loader.Dataplane
	rec       *services.Reconciler
	log       *slog.Logger
	kick      chan struct{}
	mu        sync.Mutex
	pending   time.Time // arrival of the oldest unprogrammed change
	attached  map[string]bool
	nsh       netns.NsHandle  // the network namespace Run was called in
	nl        *netlink.Handle // netlink in that namespace
	uplink    string          // attached uplink, "" while not attached
	upIndex   int             // its ifindex (a recreated uplink is attached again)
	warnedUp  string          // last uplink warning, logged once
	warnedHP  string          // last hostPort conflict warning, logged once
	warnedSys string          // last pod veth sysctl warning, logged once
}

// Run loads (or re-adopts) the dataplane and programs it until ctx ends.
// The datapath stays pinned and working after Run returns.
func Run(ctx context.Context, cfg Config) error {
	if cfg.VethPrefix == "" {
		cfg.VethPrefix = "skp"
	}
	if cfg.Coalesce == 0 {
		cfg.Coalesce = 20 * time.Millisecond
	}
	if cfg.AttachEvery == 0 {
		cfg.AttachEvery = 300 * time.Millisecond
	}
	dp, err := loader.Open(loader.Options{
		Node:        cfg.Node,
		PinRoot:     cfg.PinRoot,
		HairpinAddr: netip.MustParseAddr("169.254.77.1"),
		NodeIP:      cfg.NodeIP,
	})
	if err != nil {
		return fmt.Errorf("load the eBPF service dataplane: %w (is bpffs mounted and are we root?)", err)
	}
	defer dp.Close()
	attachSock(dp, cfg.SockCgroup)
	nsh, err := netns.Get()
	if err != nil {
		return fmt.Errorf("open the current network namespace: %w", err)
	}
	defer nsh.Close()
	nl, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return fmt.Errorf("netlink in the current network namespace: %w", err)
	}
	defer nl.Close()
	rec, err := services.NewReconciler(dp.Maps())
	if err != nil {
		return fmt.Errorf("restore dataplane state from pinned maps: %w", err)
	}
	p := &Proxy{cfg: cfg, dp: dp, rec: rec, kick: make(chan struct{}, 1), attached: map[string]bool{},
		nsh: nsh, nl: nl, log: slog.Default().With("component", "proxy", "node", cfg.Node)}

	f := cfg.Informers
	if f == nil {
		f = informers.NewSharedInformerFactory(cfg.Client, 10*time.Minute)
	}
	svcInf := f.Core().V1().Services()
	sliceInf := f.Discovery().V1().EndpointSlices()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.changed() },
		UpdateFunc: func(any, any) { p.changed() },
		DeleteFunc: func(any) { p.changed() },
	}
	svcInf.Informer().AddEventHandler(h)
	sliceInf.Informer().AddEventHandler(h)
	// Pods bound to this node, for their hostPorts (hostport.go).
	pf := cfg.Pods
	if pf == nil {
		pf = nodepods.Factory(cfg.Client, cfg.Node)
	}
	podInf := pf.Core().V1().Pods()
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if p.hostPortsChanged(nil, o) {
				p.changed()
			}
		},
		UpdateFunc: func(o, n any) {
			if p.hostPortsChanged(o, n) {
				p.changed()
			}
		},
		DeleteFunc: func(o any) {
			if p.hostPortsChanged(o, nil) {
				p.changed()
			}
		},
	})
	f.Start(ctx.Done())
	pf.Start(ctx.Done())
	for _, fac := range []informers.SharedInformerFactory{f, pf} {
		for typ, ok := range fac.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("sync %v informer: %w", typ, ctx.Err())
			}
		}
	}
	go dp.RunGC(ctx, 30*time.Second)
	attachDone := make(chan struct{})
	go func() {
		defer close(attachDone)
		p.attachLoop(ctx)
	}()
	p.log.Info("service proxy running", "pins", dp.PinDir())
	p.changed()
	for {
		select {
		case <-ctx.Done():
			<-attachDone // it uses nl and dp, closed when Run returns
			return nil
		case <-p.kick:
		}
		time.Sleep(cfg.Coalesce) // let a burst of events land in one sync
		p.sync(svcInf.Lister(), sliceInf.Lister(), podInf.Lister())
	}
}

func (p *Proxy) changed() {
	p.mu.Lock()
	if p.pending.IsZero() {
		p.pending = time.Now()
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *Proxy) sync(svcL corelisters.ServiceLister, sliceL discoverylisters.EndpointSliceLister, podL corelisters.PodLister) {
	p.mu.Lock()
	since := p.pending
	p.pending = time.Time{}
	p.mu.Unlock()
	svcs, err := svcL.List(labels.Everything())
	if err != nil {
		p.log.Error("list services from cache", "err", err)
		return
	}
	slices, err := sliceL.List(labels.Everything())
	if err != nil {
		p.log.Error("list endpointslices from cache", "err", err)
		return
	}
	pods, err := podL.List(labels.Everything())
	if err != nil {
		p.log.Error("list pods from cache", "err", err)
		return
	}
	hps, conflicts := hostPortServices(pods, p.cfg.Node, p.cfg.NodeIP)
	desired, c2 := mergeHostPorts(Desired(svcs, slices), hps)
	if conflicts = append(conflicts, c2...); p.warnOnce(&p.warnedHP, strings.Join(conflicts, ", ")) && len(conflicts) > 0 {
		p.log.Warn("hostPorts already taken are not published; delete or move the pods", "conflicts", conflicts)
	}
	if err := p.rec.Update(desired); err != nil {
		// Keep going: the next change or the retry below tries again.
		p.log.Error("program service maps; will retry", "err", err, "services", len(desired))
		time.AfterFunc(time.Second, p.changed)
		return
	}
	if !since.IsZero() {
		ProgrammingLatency.Observe(time.Since(since).Seconds())
	}
	p.log.Debug("service maps programmed", "services", len(desired), "hostPorts", len(hps), "took", time.Since(since))
}

// attachLoop attaches the balancer to every pod veth as it appears, and to
// the uplink. A new link wakes it at once (netlink link updates), so a
// pod's veth has the balancer before the pod's first packet - its first DNS
// query must not slip past the steering - and every AttachEvery it retries
// what failed and notices what is gone.
func (p *Proxy) attachLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.AttachEvery)
	defer t.Stop()
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{Namespace: &p.nsh}); err != nil {
		p.log.Warn("no netlink link updates; pod veths are found by polling", "every", p.cfg.AttachEvery, "err", err)
		updates = nil
	}
	for {
		links, err := p.nl.LinkList()
		if err == nil {
			p.attachUplink(links)
			live := map[string]bool{}
			for _, l := range links {
				name := l.Attrs().Name
				if strings.HasPrefix(name, p.cfg.VethPrefix) {
					live[name] = true
					p.attachVeth(name)
				}
			}
			for name := range p.attached {
				if !live[name] {
					delete(p.attached, name)
				}
			}
		}
		// Until the next scan, new pod veths are attached one by one as
		// netlink reports them.
		if !p.attachNew(ctx, t.C, &updates) {
			return
		}
	}
}

// attachVeth attaches the balancer to pod veth name unless it has it.
func (p *Proxy) attachVeth(name string) {
	if p.attached[name] {
		return
	}
	if err := p.dp.Attach(name, false); err != nil {
		p.log.Warn("attach balancer to pod veth; will retry", "iface", name, "err", err)
		return
	}
	if err := p.vethSysctls(name); err != nil && p.warnOnce(&p.warnedSys, err.Error()) {
		p.log.Warn("pod veth sysctls: replies translated on it may be dropped", "iface", name, "err", err)
	}
	p.attached[name] = true
	p.log.Debug("balancer attached", "iface", name)
}

// attachNew attaches each pod veth netlink reports until the next tick;
// false when ctx ends.
func (p *Proxy) attachNew(ctx context.Context, tick <-chan time.Time, updates *chan netlink.LinkUpdate) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			return true
		case u, ok := <-*updates:
			if !ok {
				*updates = nil // the subscription ended: polling only
				continue
			}
			name := u.Attrs().Name
			if !strings.HasPrefix(name, p.cfg.VethPrefix) {
				continue
			}
			switch u.Header.Type {
			case unix.RTM_NEWLINK:
				p.attachVeth(name)
			case unix.RTM_DELLINK:
				delete(p.attached, name) // a veth made again under this name needs the balancer again
			}
		}
	}
}

// attachUplink attaches the balancer to the interface holding the node IP
// (once, and again if that interface is recreated under the same name or
// the node IP moves to another one). The TCX link is pinned like the pod
// veths' ones: it stays after the agent stops, is re-adopted by the next
// start and is removed with the node's pins.
func (p *Proxy) attachUplink(links []netlink.Link) {
	if !p.cfg.NodeIP.IsValid() {
		return
	}
	name, err := p.uplinkName()
	index := 0
	for _, l := range links {
		if l.Attrs().Name == name {
			index = l.Attrs().Index
		}
	}
	if err == nil && name == p.uplink && index == p.upIndex {
		return
	}
	if err == nil {
		err = p.dp.Attach(name, false)
	}
	if err != nil {
		p.uplink = ""
		if p.warnOnce(&p.warnedUp, err.Error()) {
			p.log.Warn("attach balancer to the uplink; hostPorts are not reachable from other machines until it works; will retry",
				"nodeIP", p.cfg.NodeIP, "err", err)
		}
		return
	}
	p.uplink, p.upIndex, p.warnedUp = name, index, ""
	p.log.Info("balancer attached to the uplink for hostPorts", "iface", name, "nodeIP", p.cfg.NodeIP)
}

// warnOnce reports whether msg differs from the last warning kept in last
// (each is used by one goroutine only).
func (p *Proxy) warnOnce(last *string, msg string) bool {
	if *last == msg {
		return false
	}
	*last = msg
	return true
}

// attachSock attaches (or, when disabled, detaches) the socket-level
// balancer. Failure leaves node-originated traffic unbalanced but pods keep
// working, so it is logged, not fatal.
func attachSock(dp *loader.Dataplane, cgroup string) {
	log := slog.Default().With("component", "proxy")
	switch cgroup {
	case "", "-":
		if err := dp.DetachCgroup(); err != nil {
			log.Warn("remove the socket-level balancer of an earlier run", "err", err)
		}
		return
	case CgroupAuto:
		cgroup = ""
	}
	if err := dp.AttachCgroup(cgroup); err != nil {
		log.Error("socket-level balancing not attached: the node and hostNetwork pods cannot reach Services; fix the cgroup or disable it", "err", err)
	}
}
