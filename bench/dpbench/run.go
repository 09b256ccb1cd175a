package dpbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/skiffnet/skiff/internal/nstest"
)

// Config says what to measure. Zero durations take the defaults.
type Config struct {
	Services []int // service counts, e.g. 1, 1000, 10000
	Reps     int
	Clients  int           // concurrent clients for the connection-rate test (32)
	ConnDur  time.Duration // connection-rate test length per mode and rep
	LatDur   time.Duration // unloaded latency test length
	TputDur  time.Duration // single-stream throughput test length
	// LoadTimeout caps programming all services in one mode; a mode that
	// takes longer is reported missing at that service count.
	LoadTimeout time.Duration
	// ReloadMax: a mode whose first load at a service count took less than
	// this is re-programmed from empty in every repetition; slower ones are
	// loaded once and their single load time is reported as one sample.
	ReloadMax time.Duration
	// ChangeTimeout caps waiting for an endpoint change to show in traffic.
	ChangeTimeout time.Duration
	// Modes to run besides direct; nil means DefaultModes().
	Modes []Mode
}

// DefaultConfig is `make bench` without overrides.
func DefaultConfig() Config {
	return Config{
		Services: []int{1, 1000, 10000}, Reps: 5, Clients: 32,
		ConnDur: 2 * time.Second, LatDur: time.Second, TputDur: 2 * time.Second,
		LoadTimeout: 400 * time.Second, ReloadMax: 10 * time.Second, ChangeTimeout: 10 * time.Second,
	}
}

// DefaultModes are every mode `make bench` compares with direct.
func DefaultModes(maxN int) []Mode {
	return []Mode{
		SizedSkiffMode(maxN),
		NewIptablesMode("iptables-legacy", "iptables-legacy-restore"),
		NewIptablesMode("iptables-nft", "iptables-nft-restore"),
		NewNftMode(),
	}
}

// Metric names, in table order.
const (
	MConnRate = "conn_per_sec"
	MLatP50   = "latency_p50_us"
	MLatP99   = "latency_p99_us"
	MTput     = "throughput_gbps"
	MProgram  = "program_ms"
	MChange   = "endpoint_change_ms"
)

// MetricInfo describes one metric.
type MetricInfo struct {
	Name, Title, Unit string
	HigherBetter      bool
	Direct            bool // measured on the direct path too (so it has ratios)
}

// Metrics lists every metric in output order.
var Metrics = []MetricInfo{
	{MConnRate, "new TCP connections/s (32 clients)", "conn/s", true, true},
	{MLatP50, "connection latency p50 (unloaded)", "µs", false, true},
	{MLatP99, "connection latency p99 (unloaded)", "µs", false, true},
	{MTput, "single-stream throughput", "Gbit/s", true, true},
	{MProgram, "time to program all services", "ms", false, false},
	{MChange, "endpoint change to first packet at new backend", "ms", false, false},
}

const directName = "direct"

// collector gathers samples: mode → N → metric → rep → value.
type collector struct {
	samples map[string]map[int]map[string]map[int]float64
	missing map[string]map[int]string // mode → N → reason
	notes   []string
}

func (c *collector) add(mode string, n int, metric string, rep int, v float64) {
	if c.samples[mode] == nil {
		c.samples[mode] = map[int]map[string]map[int]float64{}
	}
	if c.samples[mode][n] == nil {
		c.samples[mode][n] = map[string]map[int]float64{}
	}
	if c.samples[mode][n][metric] == nil {
		c.samples[mode][n][metric] = map[int]float64{}
	}
	c.samples[mode][n][metric][rep] = v
}

func (c *collector) miss(mode string, n int, reason string) {
	if c.missing[mode] == nil {
		c.missing[mode] = map[int]string{}
	}
	c.missing[mode][n] = reason
}

func (c *collector) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.notes = append(c.notes, msg)
	slog.Warn(msg)
}

// Run builds the topology, measures every mode and returns the results.
// The topology is removed before Run returns, whatever happens; cancel ctx
// (e.g. on SIGINT) to stop early.
func Run(ctx context.Context, cfg Config) (res *Results, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the dataplane bench needs root (network namespaces, iptables, BPF): run it with sudo")
	}
	def := DefaultConfig()
	if len(cfg.Services) == 0 {
		cfg.Services = def.Services
	}
	for _, n := range cfg.Services {
		if n < 1 || n > MaxServices {
			return nil, fmt.Errorf("service count %d out of range: use 1..%d", n, MaxServices)
		}
	}
	if cfg.Reps < 1 {
		cfg.Reps = def.Reps
	}
	if cfg.Clients < 1 {
		cfg.Clients = def.Clients
	}
	for _, p := range []struct {
		d *time.Duration
		v time.Duration
	}{
		{&cfg.ConnDur, def.ConnDur}, {&cfg.LatDur, def.LatDur}, {&cfg.TputDur, def.TputDur},
		{&cfg.LoadTimeout, def.LoadTimeout}, {&cfg.ReloadMax, def.ReloadMax}, {&cfg.ChangeTimeout, def.ChangeTimeout},
	} {
		if *p.d <= 0 {
			*p.d = p.v
		}
	}
	if cfg.Modes == nil {
		maxN := 0
		for _, n := range cfg.Services {
			maxN = max(maxN, n)
		}
		cfg.Modes = DefaultModes(maxN)
	}
	started := time.Now()
	col := &collector{samples: map[string]map[int]map[string]map[int]float64{}, missing: map[string]map[int]string{}}

	cleaner := &nstest.Cleaner{}
	defer cleaner.Cleanup()
	tp := nstest.NewWithCleaner(cleaner)
	const nBackends = 4 // three endpoints plus the one an endpoint change moves to
	slog.Info("building topology", "prefix", tp.Prefix, "routers", len(cfg.Modes)+1, "backends", nBackends)
	topo, err := buildTopology(tp, len(cfg.Modes)+1, nBackends)
	if err != nil {
		return nil, fmt.Errorf("build topology: %w", err)
	}
	var servers []*backendServer
	for j, b := range topo.backends {
		s, err := startServer(b, byte(j), TargetPort)
		if err != nil {
			return nil, err
		}
		defer s.close()
		servers = append(servers, s)
	}

	// Set up each mode in its router; a failure makes the mode missing.
	modeNames := []string{directName}
	active := map[int]bool{}
	for k, m := range cfg.Modes {
		i := k + 1
		modeNames = append(modeNames, m.Name())
		if err := m.Setup(ctx, topo.routers[i]); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			for _, n := range cfg.Services {
				col.miss(m.Name(), n, "setup failed: "+err.Error())
			}
			slog.Warn("mode unavailable; its rows are reported missing", "mode", m.Name(), "err", err)
			continue
		}
		defer m.Close()
		active[i] = true
	}

	real := []netip.Addr{backendAddr(0), backendAddr(1), backendAddr(2)}
	direct := targets{}
	for _, a := range real {
		direct = append(direct, netip.AddrPortFrom(a, TargetPort))
	}
	for _, n := range cfg.Services {
		if err := runN(ctx, cfg, col, topo, servers, active, real, direct, n); err != nil {
			return nil, err
		}
	}
	res = buildResults(cfg, col, modeNames, started, tp.Prefix)
	return res, nil
}

// runN measures every mode at service count n.
func runN(ctx context.Context, cfg Config, col *collector, topo *topology, servers []*backendServer,
	active map[int]bool, real []netip.Addr, direct targets, n int) error {
	svcs := map[int][]Service{}
	loadOnce := map[int]bool{}
	loaded := map[int]bool{}
	for k, m := range cfg.Modes {
		i := k + 1
		if !active[i] {
			continue
		}
		s, err := BuildServices(n, vipBase(i), real)
		if err != nil {
			return err
		}
		svcs[i] = s
		slog.Info("programming services", "mode", m.Name(), "services", n)
		d, err := timedLoad(ctx, cfg, m, s)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			col.miss(m.Name(), n, err.Error())
			slog.Warn("mode could not program services; its row is reported missing", "mode", m.Name(), "services", n, "err", err)
			_ = m.Reset(context.Background())
			continue
		}
		loaded[i] = true
		col.add(m.Name(), n, MProgram, 0, ms(d))
		slog.Info("programmed", "mode", m.Name(), "services", n, "took", d.Round(time.Millisecond))
		if d >= cfg.ReloadMax {
			loadOnce[i] = true
			col.note("%s at %d services: programming took %s (≥ %s), so it was loaded once and not re-programmed per repetition; program_ms has one sample",
				m.Name(), n, d.Round(time.Millisecond), cfg.ReloadMax)
		}
	}
	defer func() {
		for i := range loaded {
			_ = cfg.Modes[i-1].Reset(context.Background())
		}
	}()

	order := []int{0}
	for i := range loaded {
		order = append(order, i)
	}
	sortInts(order)
	for rep := 0; rep < cfg.Reps; rep++ {
		for k := range order {
			i := order[(k+rep)%len(order)]
			name := directName
			dst := direct
			if i > 0 {
				m := cfg.Modes[i-1]
				name = m.Name()
				if rep > 0 && !loadOnce[i] {
					if err := m.Reset(ctx); err != nil {
						return fmt.Errorf("%s: reset before re-programming: %w", name, err)
					}
					d, err := timedLoad(ctx, cfg, m, svcs[i])
					if err != nil {
						return fmt.Errorf("%s: re-programming %d services in repetition %d: %w", name, n, rep+1, err)
					}
					col.add(name, n, MProgram, rep, ms(d))
				}
				last := svcs[i][len(svcs[i])-1]
				dst = targets{netip.AddrPortFrom(last.VIP, last.Port)}
			}
			slog.Info("measuring", "mode", name, "services", n, "rep", fmt.Sprintf("%d/%d", rep+1, cfg.Reps))
			if err := measure(ctx, cfg, col, topo, servers, name, n, rep, dst); err != nil {
				return fmt.Errorf("%s at %d services, repetition %d: %w", name, n, rep+1, err)
			}
			if i > 0 {
				m := cfg.Modes[i-1]
				last := svcs[i][len(svcs[i])-1]
				d, err := endpointChange(ctx, cfg, topo, servers, m, last)
				if err != nil {
					return fmt.Errorf("%s at %d services, repetition %d: endpoint change: %w", name, n, rep+1, err)
				}
				col.add(name, n, MChange, rep, ms(d))
			}
		}
	}
	return nil
}

func timedLoad(ctx context.Context, cfg Config, m Mode, svcs []Service) (time.Duration, error) {
	lctx, cancel := context.WithTimeout(ctx, cfg.LoadTimeout)
	defer cancel()
	t0 := time.Now()
	err := m.Load(lctx, svcs)
	d := time.Since(t0)
	if err != nil {
		if ctx.Err() == nil && lctx.Err() != nil {
			return d, fmt.Errorf("programming %d services did not finish within the %s cap (BENCH_LOAD_TIMEOUT): not measured", len(svcs), cfg.LoadTimeout)
		}
		return d, err
	}
	return d, nil
}

// measure runs the traffic tests of one mode and repetition: latency first,
// while the path is quiet, then the connection-rate burst, then throughput.
func measure(ctx context.Context, cfg Config, col *collector, topo *topology, servers []*backendServer,
	name string, n, rep int, dst targets) error {
	// Settle: collect the previous test's garbage so a GC cycle does not
	// land in the latency samples.
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
	p50, p99, err := latency(ctx, topo.client, dst, cfg.LatDur)
	if err != nil {
		return fmt.Errorf("latency test: connection error: %w", err)
	}
	col.add(name, n, MLatP50, rep, us(p50))
	col.add(name, n, MLatP99, rep, us(p99))
	rate, err := connRate(ctx, topo.client, dst, cfg.Clients, cfg.ConnDur)
	if err != nil {
		return fmt.Errorf("connection-rate test: connection error: %w", err)
	}
	col.add(name, n, MConnRate, rep, rate)
	gbps, err := throughput(ctx, topo.client, dst[0], cfg.TputDur)
	if err != nil {
		return fmt.Errorf("throughput test: connection error: %w", err)
	}
	col.add(name, n, MTput, rep, gbps)
	slog.Info("measured", "mode", name, "services", n, "rep", rep+1,
		"conn/s", int(rate), "p50", p50.Round(time.Microsecond), "p99", p99.Round(time.Microsecond), "Gbit/s", fmt.Sprintf("%.2f", gbps))
	return nil
}

// endpointChange swaps the benchmarked service's third endpoint for the
// spare backend while probers hit the VIP, and returns the time from the
// start of the change to the spare backend accepting its first connection.
// The change is reverted afterwards.
func endpointChange(ctx context.Context, cfg Config, topo *topology, servers []*backendServer, m Mode, svc Service) (time.Duration, error) {
	spare := byte(len(servers) - 1)
	to := svc
	to.Endpoints = append([]netip.AddrPort(nil), svc.Endpoints...)
	to.Endpoints[len(to.Endpoints)-1] = netip.AddrPortFrom(backendAddr(int(spare)), TargetPort)
	dst := netip.AddrPortFrom(svc.VIP, svc.Port)

	servers[spare].arm()
	defer servers[spare].armed.Store(false)
	probeErr := make(chan error, 1)
	go func() { probeErr <- probeUntil(ctx, topo.client, dst, spare, 4, cfg.ChangeTimeout) }()
	time.Sleep(20 * time.Millisecond) // probers are running before the change starts
	t0 := time.Now()
	if err := m.Update(ctx, svc, to); err != nil {
		<-probeErr
		return 0, err
	}
	if err := <-probeErr; err != nil {
		return 0, err
	}
	first := servers[spare].firstAt.Load()
	if err := m.Update(ctx, to, svc); err != nil {
		return 0, fmt.Errorf("reverting: %w", err)
	}
	if first == 0 {
		return 0, errors.New("prober saw the new backend but the backend recorded no connection")
	}
	d := time.Duration(first - t0.UnixNano())
	if d < 0 {
		return 0, errors.New("new backend answered before the change was made: the old state was not restored")
	}
	return d, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func kernelRelease() string {
	out, err := exec.Command("uname", "-r").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
