package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/skiffnet/skiff/dns/cache"
	"github.com/skiffnet/skiff/dns/forward"
	"github.com/skiffnet/skiff/dns/records"
)

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	// Listen is the UDP and TCP address to serve, e.g. "10.96.0.10:53" or
	// "127.0.0.1:0" (port 0 picks a free port, shared by UDP and TCP).
	Listen string
	// Zone is the cluster domain; default "cluster.local".
	Zone string
	// TTL of cluster answers in seconds; default 5.
	TTL uint32
	// Upstreams for names outside the zone; default the nameservers in
	// ResolvConf.
	Upstreams []string
	// ResolvConf is read when Upstreams is empty; default /etc/resolv.conf.
	ResolvConf string
	// ForwardTimeout bounds one forwarded question over all upstreams;
	// default 4s.
	ForwardTimeout time.Duration
	// UDPSockets is how many SO_REUSEPORT UDP sockets to read from;
	// default GOMAXPROCS.
	UDPSockets int
	// Cache bounds the forwarding cache.
	Cache cache.Config
	// MetricsAddr, when set, serves Prometheus metrics at /metrics.
	MetricsAddr string
	// Registry receives the metrics; default a new registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Server is a cluster DNS server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	index   *records.Index
	source  records.Source
	cache   *cache.Cache
	fwd     *forward.Forwarder
	metrics *metrics
	reg     *prometheus.Registry

	udp     []net.PacketConn
	tcp     net.Listener
	metricL net.Listener
}

// New builds a server and binds its sockets, so address errors surface
// here. Serve starts answering.
func New(cfg Config, source records.Source) (*Server, error) {
	if cfg.Zone == "" {
		cfg.Zone = "cluster.local"
	}
	if _, ok := dns.IsDomainName(cfg.Zone); !ok {
		return nil, fmt.Errorf("zone %q is not a valid domain name; pass e.g. --zone cluster.local", cfg.Zone)
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 4 * time.Second
	}
	if cfg.UDPSockets <= 0 {
		cfg.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	ups := cfg.Upstreams
	if len(ups) == 0 {
		path := cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		var err error
		if ups, err = forward.FromResolvConf(path); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg:     cfg,
		log:     logger(cfg.Logger),
		index:   records.New(cfg.Zone, cfg.TTL),
		source:  source,
		cache:   cache.New(cfg.Cache),
		fwd:     forward.New(ups, 2*time.Second),
		metrics: newMetrics(cfg.Registry),
		reg:     cfg.Registry,
	}
	if cfg.Listen != "" {
		if err := s.bind(); err != nil {
			s.closeAll()
			return nil, err
		}
	}
	if cfg.MetricsAddr != "" {
		l, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("listen for metrics on %s: %w (pick a free --metrics-addr)", cfg.MetricsAddr, err)
		}
		s.metricL = l
	}
	return s, nil
}

func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	return errors.Join(err, serr)
}

func (s *Server) bind() error {
	lc := net.ListenConfig{Control: reusePort}
	ctx := context.Background()
	tcp, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on tcp %s: %w (is another DNS server bound there?)", s.cfg.Listen, err)
	}
	s.tcp = tcp
	// UDP binds to the TCP port so port 0 yields one shared port.
	addr := tcp.Addr().String()
	for range s.cfg.UDPSockets {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return fmt.Errorf("listen on udp %s: %w (is another DNS server bound there?)", addr, err)
		}
		s.udp = append(s.udp, pc)
	}
	return nil
}

func (s *Server) closeAll() {
	for _, pc := range s.udp {
		pc.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.metricL != nil {
		s.metricL.Close()
	}
}

// Addr returns the bound DNS address (UDP and TCP share it), or "" when
// the server has no listener.
func (s *Server) Addr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}

// MetricsAddr returns the bound metrics address, or "".
func (s *Server) MetricsAddr() string {
	if s.metricL == nil {
		return ""
	}
	return s.metricL.Addr().String()
}

// Index exposes the record index (read-only use: Resolve, Synced, Len).
func (s *Server) Index() *records.Index { return s.index }

// Serve runs the source and the listeners until ctx ends. It returns nil
// on cancellation, or the first listener or source error.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4+len(s.udp))
	var wg sync.WaitGroup
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errc <- err
			}
		}()
	}
	if s.source != nil {
		run(func() error {
			if err := s.source.Run(ctx, s.index); err != nil {
				return fmt.Errorf("dns record source stopped: %w", err)
			}
			return nil
		})
	} else {
		s.index.MarkSynced()
	}
	var servers []*dns.Server
	for _, pc := range s.udp {
		srv := &dns.Server{PacketConn: pc, Handler: s, UDPSize: advertisedUDPSize}
		servers = append(servers, srv)
		run(srv.ActivateAndServe)
	}
	if s.tcp != nil {
		srv := &dns.Server{Listener: s.tcp, Handler: s, ReadTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
		servers = append(servers, srv)
		run(srv.ActivateAndServe)
	}
	var hs *http.Server
	if s.metricL != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
		hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		run(func() error {
			if err := hs.Serve(s.metricL); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	s.log.Info("dns: serving", "addr", s.Addr(), "zone", s.index.Zone(), "upstreams", s.fwd.Upstreams(), "metrics", s.MetricsAddr())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	for _, srv := range servers {
		_ = srv.Shutdown()
	}
	if hs != nil {
		_ = hs.Close()
	}
	s.closeAll()
	wg.Wait()
	return err
}
