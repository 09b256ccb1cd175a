package dpbench

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dataplane/services"
)

// skiffMode is Skiff's eBPF balancer attached at TC ingress of every router
// interface, programmed through dataplane/services.
type skiffMode struct {
	maxServices int
	dp          *loader.Dataplane
	rec         *services.Reconciler
	stopGC      context.CancelFunc
}

// NewSkiffMode returns the eBPF mode; maxServices sizes its maps (0: the
// compiled-in defaults).
func NewSkiffMode() Mode { return &skiffMode{} }

// SizedSkiffMode is NewSkiffMode with maps big enough for maxServices
// services of 3 endpoints.
func SizedSkiffMode(maxServices int) Mode { return &skiffMode{maxServices: maxServices} }

func (m *skiffMode) Name() string { return "skiff" }

func (m *skiffMode) Setup(ctx context.Context, r *Router) error {
	var sizes lb.Sizes
	if n := uint32(m.maxServices); n > 0 {
		sizes = lb.Sizes{
			Services: max(65536, 2*n),
			Backends: max(262144, 4*n),
			Slots:    max(262144, 8*n),
		}
	}
	ifaces := append([]string{r.ClientIf}, r.BackendIfs...)
	err := r.NS.Do(func() (err error) {
		m.dp, err = loader.Open(loader.Options{Node: "bench-" + r.Prefix, Ifaces: ifaces, Sizes: sizes})
		return err
	})
	if err != nil {
		return fmt.Errorf("load the eBPF dataplane: %w", err)
	}
	m.rec, err = services.NewReconciler(m.dp.Maps())
	if err != nil {
		_ = m.dp.Remove()
		m.dp = nil
		return fmt.Errorf("start the service reconciler: %w", err)
	}
	gctx, cancel := context.WithCancel(context.Background())
	m.stopGC = cancel
	go m.dp.RunGC(gctx, 2*time.Second)
	return nil
}

func toSkiff(s Service) services.Service {
	out := services.Service{VIP: s.VIP, Port: s.Port, Protocol: services.TCP}
	for _, ep := range s.Endpoints {
		out.Backends = append(out.Backends, services.Backend{Addr: ep.Addr(), Port: ep.Port()})
	}
	return out
}

func (m *skiffMode) Load(ctx context.Context, svcs []Service) error {
	want := make([]services.Service, len(svcs))
	for i, s := range svcs {
		want[i] = toSkiff(s)
	}
	return m.rec.Update(want)
}

func (m *skiffMode) Update(ctx context.Context, from, to Service) error {
	return m.rec.Upsert(toSkiff(to))
}

func (m *skiffMode) Reset(ctx context.Context) error { return m.rec.Update(nil) }

func (m *skiffMode) Close() error {
	if m.stopGC != nil {
		m.stopGC()
	}
	if m.dp == nil {
		return nil
	}
	err := m.dp.Remove()
	m.dp = nil
	return err
}
