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
	"github.com/vishvananda/netlink"
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
	Node       string
	Client     kubernetes.Interface
	VethPrefix string        // host-side pod veths to attach to; default "skp"
	Coalesce   time.Duration // default 20ms
	PinRoot    string        // default loader.DefaultPinRoot
}

// Proxy keeps the dataplane equal to the API's Services × EndpointSlices.
type Proxy struct {
	cfg      Config
	dp       *loader.Dataplane
	rec      *services.Reconciler
	log      *slog.Logger
	kick     chan struct{}
	mu       sync.Mutex
	pending  time.Time // arrival of the oldest unprogrammed change
	attached map[string]bool
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
	dp, err := loader.Open(loader.Options{
		Node:        cfg.Node,
		PinRoot:     cfg.PinRoot,
		HairpinAddr: netip.MustParseAddr("169.254.77.1"),
	})
	if err != nil {
		return fmt.Errorf("load the eBPF service dataplane: %w (is bpffs mounted and are we root?)", err)
	}
	defer dp.Close()
	rec, err := services.NewReconciler(dp.Maps())
	if err != nil {
		return fmt.Errorf("restore dataplane state from pinned maps: %w", err)
	}
	p := &Proxy{cfg: cfg, dp: dp, rec: rec, kick: make(chan struct{}, 1), attached: map[string]bool{},
		log: slog.Default().With("component", "proxy", "node", cfg.Node)}

	f := informers.NewSharedInformerFactory(cfg.Client, 10*time.Minute)
	svcInf := f.Core().V1().Services()
	sliceInf := f.Discovery().V1().EndpointSlices()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.changed() },
		UpdateFunc: func(any, any) { p.changed() },
		DeleteFunc: func(any) { p.changed() },
	}
	svcInf.Informer().AddEventHandler(h)
	sliceInf.Informer().AddEventHandler(h)
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync %v informer: %w", typ, ctx.Err())
		}
	}
	go dp.RunGC(ctx, 30*time.Second)
	go p.attachLoop(ctx)
	p.log.Info("service proxy running", "pins", dp.PinDir())
	p.changed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.kick:
		}
		time.Sleep(cfg.Coalesce) // let a burst of events land in one sync
		p.sync(svcInf.Lister(), sliceInf.Lister())
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

func (p *Proxy) sync(svcL corelisters.ServiceLister, sliceL discoverylisters.EndpointSliceLister) {
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
	desired := Desired(svcs, slices)
	if err := p.rec.Update(desired); err != nil {
		// Keep going: the next change or the retry below tries again.
		p.log.Error("program service maps; will retry", "err", err, "services", len(desired))
		time.AfterFunc(time.Second, p.changed)
		return
	}
	if !since.IsZero() {
		ProgrammingLatency.Observe(time.Since(since).Seconds())
	}
	p.log.Debug("service maps programmed", "services", len(desired), "took", time.Since(since))
}

// attachLoop attaches the balancer to every pod veth as it appears.
func (p *Proxy) attachLoop(ctx context.Context) {
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		links, err := netlink.LinkList()
		if err == nil {
			live := map[string]bool{}
			for _, l := range links {
				name := l.Attrs().Name
				if !strings.HasPrefix(name, p.cfg.VethPrefix) {
					continue
				}
				live[name] = true
				if p.attached[name] {
					continue
				}
				if err := p.dp.Attach(name, false); err != nil {
					p.log.Warn("attach balancer to pod veth; will retry", "iface", name, "err", err)
					continue
				}
				p.attached[name] = true
				p.log.Debug("balancer attached", "iface", name)
			}
			for name := range p.attached {
				if !live[name] {
					delete(p.attached, name)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
