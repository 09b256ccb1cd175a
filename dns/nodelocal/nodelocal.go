package nodelocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dns/kube"
	"github.com/skiffnet/skiff/dns/records"
	"github.com/skiffnet/skiff/dns/server"
)

// Defaults of Config.
var (
	DefaultLocalIP   = netip.MustParseAddr("169.254.20.10")
	DefaultInterface = "skiffdns0"
)

// Config configures the node-local DNS server.
type Config struct {
	// Client is the agent's Kubernetes client; the server watches Services
	// and EndpointSlices through it. Required unless Source is set.
	Client kubernetes.Interface
	// Source replaces the Kubernetes source (tests, other record feeds).
	Source records.Source
	// ClusterDNSIP is the address in pods' resolv.conf (the kube-dns
	// Service ClusterIP, 10.96.0.10 by default in Skiff). Required.
	ClusterDNSIP netip.Addr
	// LocalIP is the node-local address served on port 53 (UDP and TCP);
	// default 169.254.20.10. It must not be routable off the node.
	LocalIP netip.Addr
	// Interface is the dummy interface carrying LocalIP; default skiffdns0.
	Interface string
	// Zone, TTL, Upstreams and ResolvConf are passed to dns/server (zero:
	// its defaults: cluster.local, 5 s, the node's /etc/resolv.conf).
	Zone       string
	TTL        uint32
	Upstreams  []string
	ResolvConf string
	// Node and PinRoot name the service dataplane (dataplane/loader pins,
	// loaded by node/proxy) whose lb_dns map receives the heartbeat. An
	// empty Node serves DNS on LocalIP without steering pods to it.
	Node, PinRoot string
	// Interval between heartbeats; default 1 s.
	Interval time.Duration
	// MaxAge is how long a heartbeat keeps steering on; default 3 s. It
	// must exceed Interval.
	MaxAge time.Duration
	// Registry receives the DNS server's and this package's metrics. Nil:
	// they appear in the Prometheus default registry (what the agent's
	// promhttp.Handler serves), relayed from a private registry so that
	// Start can run again after Stop.
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// NodeLocal is a running node-local DNS server and its heartbeat.
type NodeLocal struct {
	cfg   Config
	log   *slog.Logger
	srv   *server.Server
	nl    *netlink.Handle
	nsh   netns.NsHandle
	probe *dns.Conn
	qname string

	steering   prometheus.Gauge
	probeFails prometheus.Counter

	stop     context.CancelFunc
	done     chan struct{}
	serveErr error

	mu        sync.Mutex
	active    bool   // the last heartbeat was written
	lastState string // for logging state changes once
}

func (c *Config) defaults() error {
	if !c.ClusterDNSIP.Is4() || c.ClusterDNSIP.IsUnspecified() {
		return fmt.Errorf("cluster DNS IP %v must be a non-zero IPv4 address (the kube-dns Service ClusterIP, e.g. 10.96.0.10)", c.ClusterDNSIP)
	}
	if !c.LocalIP.IsValid() {
		c.LocalIP = DefaultLocalIP
	}
	if !c.LocalIP.Is4() || c.LocalIP.IsUnspecified() || c.LocalIP == c.ClusterDNSIP {
		return fmt.Errorf("node-local DNS address %v must be an IPv4 address other than the cluster DNS IP (default 169.254.20.10)", c.LocalIP)
	}
	if c.Interface == "" {
		c.Interface = DefaultInterface
	}
	if len(c.Interface) > 15 {
		return fmt.Errorf("interface name %q is longer than 15 bytes", c.Interface)
	}
	if c.Client == nil && c.Source == nil {
		return errors.New("node-local DNS needs the agent's Kubernetes client (Config.Client)")
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.MaxAge == 0 {
		c.MaxAge = lb.DefaultDNSMaxAge
	}
	if c.Interval <= 0 || c.MaxAge <= c.Interval {
		return fmt.Errorf("heartbeat interval %s must be positive and below the max age %s", c.Interval, c.MaxAge)
	}
	if c.Zone == "" {
		c.Zone = "cluster.local"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Start creates (or adopts) the dummy interface with LocalIP in the calling
// thread's network namespace, binds the DNS server there on LocalIP:53 UDP
// and TCP, and starts serving and the heartbeat. Everything stops when ctx
// ends or Stop is called: the heartbeat is cleared first so pods fall back
// to the kube-dns Service at once, then the server closes. The interface is
// left in place for the next start.
func Start(ctx context.Context, cfg Config) (*NodeLocal, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	n := &NodeLocal{cfg: cfg, done: make(chan struct{}),
		log:   cfg.Logger.With("component", "nodelocal-dns", "addr", cfg.LocalIP, "clusterDNS", cfg.ClusterDNSIP),
		qname: dns.Fqdn("dns-version." + cfg.Zone)}
	var err error
	if n.nsh, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("open current network namespace: %w", err)
	}
	if n.nl, err = netlink.NewHandleAt(n.nsh); err != nil {
		n.nsh.Close()
		return nil, fmt.Errorf("netlink in current network namespace: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			n.release()
		}
	}()
	if _, err := ensureInterface(n.nl, cfg.Interface, cfg.LocalIP); err != nil {
		return nil, err
	}
	udp, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.LocalIP, lb.DNSPort)))
	if err != nil {
		return nil, fmt.Errorf("open the node-local DNS health probe socket: %w", err)
	}
	n.probe = &dns.Conn{Conn: udp}
	src := cfg.Source
	if src == nil {
		src = kube.New(cfg.Client, 10*time.Minute)
	}
	reg, relayed := registry(&cfg)
	n.srv, err = server.New(server.Config{
		Listen: netip.AddrPortFrom(cfg.LocalIP, lb.DNSPort).String(), Zone: cfg.Zone, TTL: cfg.TTL,
		Upstreams: cfg.Upstreams, ResolvConf: cfg.ResolvConf, Registry: reg, Logger: cfg.Logger,
	}, src)
	if err != nil {
		return nil, fmt.Errorf("node-local DNS: %w", err)
	}
	n.steering = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "skiff", Subsystem: "dns", Name: "nodelocal_steering",
		Help: "1 while this agent's heartbeat steers pods' DNS queries to the node-local server, 0 while they take the kube-dns Service."})
	n.probeFails = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "skiff", Subsystem: "dns", Name: "nodelocal_probe_failures_total",
		Help: "Health probes of the node-local server that failed (each stops steering until one succeeds)."})
	for _, c := range []prometheus.Collector{n.steering, n.probeFails} {
		if err := reg.Register(c); err != nil {
			n.log.Warn("node-local DNS metric not registered; is Start called twice with one Config.Registry?", "err", err)
		}
	}
	ok = true
	if relayed {
		exported.set(reg)
	}

	serveCtx, stopServe := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := n.srv.Serve(serveCtx); err != nil {
			n.serveErr = err
			n.log.Error("node-local DNS server stopped; pods fall back to the kube-dns Service", "err", err)
		}
	}()
	loopCtx, stopLoop := context.WithCancel(ctx)
	n.stop = stopLoop
	go func() {
		defer close(n.done)
		n.loop(loopCtx, served)
		n.clear()
		time.Sleep(200 * time.Millisecond) // answer queries steered before the clear
		stopServe()
		<-served
		n.release()
	}()
	n.log.Info("node-local DNS serving", "iface", cfg.Interface, "steering", cfg.Node != "")
	return n, nil
}

// Addr is the DNS address served (LocalIP:53).
func (n *NodeLocal) Addr() string { return n.srv.Addr() }

// Index is the server's record index (read-only use).
func (n *NodeLocal) Index() *records.Index { return n.srv.Index() }

// Steering reports whether the last heartbeat was written (pods' queries
// to the cluster DNS IP go to this server).
func (n *NodeLocal) Steering() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.active
}

// Stop clears the heartbeat, stops the server and waits; it returns the
// server's error, if it failed while running.
func (n *NodeLocal) Stop() error {
	n.stop()
	<-n.done
	return n.serveErr
}

// Done is closed once everything has stopped.
func (n *NodeLocal) Done() <-chan struct{} { return n.done }

func (n *NodeLocal) release() {
	if n.probe != nil {
		n.probe.Close()
	}
	if n.nl != nil {
		n.nl.Close()
		n.nsh.Close()
	}
}

func (n *NodeLocal) loop(ctx context.Context, served <-chan struct{}) {
	t := time.NewTicker(n.cfg.Interval)
	defer t.Stop()
	for {
		n.tick(served)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick repairs the interface, probes the server and writes the heartbeat
// when the probe got a cluster answer (so it also waits for the first
// sync with the API: until then the server answers SERVFAIL).
func (n *NodeLocal) tick(served <-chan struct{}) {
	if changed, err := ensureInterface(n.nl, n.cfg.Interface, n.cfg.LocalIP); err != nil {
		n.state("iface-error", slog.LevelWarn, "node-local DNS interface broken; will retry", "iface", n.cfg.Interface, "err", err)
	} else if changed {
		n.log.Warn("node-local DNS interface or address was missing and has been restored", "iface", n.cfg.Interface)
	}
	healthy := false
	select {
	case <-served:
	default:
		err := n.check()
		switch {
		case err == nil:
			healthy = true
		case !n.srv.Index().Synced():
			n.state("sync", slog.LevelInfo, "node-local DNS waiting for the first sync with the API; pods use the kube-dns Service meanwhile")
		default:
			n.probeFails.Inc()
			n.state("probe-failed", slog.LevelWarn, "node-local DNS probe failed; pods use the kube-dns Service until it answers", "err", err)
		}
	}
	if n.cfg.Node == "" {
		n.setActive(false)
		if healthy {
			n.state("serving", slog.LevelInfo, "node-local DNS healthy (no dataplane given: pods are not steered here)")
		}
		return
	}
	st := lb.DNSSteering{ClusterIP: n.cfg.ClusterDNSIP, LocalIP: n.cfg.LocalIP, MaxAge: n.cfg.MaxAge}
	if healthy {
		st.Heartbeat = lb.Monotonic()
	}
	if err := n.write(st); err != nil {
		n.setActive(false)
		if errors.Is(err, os.ErrNotExist) {
			n.state("no-dataplane", slog.LevelInfo, "waiting for the service dataplane (node/proxy) to be loaded; pods use the kube-dns Service meanwhile", "err", err)
		} else {
			n.state("map-error", slog.LevelWarn, "cannot write the DNS heartbeat into the service dataplane; pods use the kube-dns Service", "err", err)
		}
		return
	}
	n.setActive(healthy)
	if healthy {
		n.state("steering", slog.LevelInfo, "pods' DNS queries to the cluster DNS IP are steered to the node-local server")
	}
}

// check sends one query for dns-version.<zone> TXT (a cluster record) and
// wants NOERROR with an answer.
func (n *NodeLocal) check() error {
	q := new(dns.Msg)
	q.SetQuestion(n.qname, dns.TypeTXT)
	deadline := time.Now().Add(min(n.cfg.Interval/2, 500*time.Millisecond))
	_ = n.probe.SetDeadline(deadline)
	if err := n.probe.WriteMsg(q); err != nil {
		return fmt.Errorf("send probe: %w", err)
	}
	for {
		r, err := n.probe.ReadMsg()
		if err != nil {
			return fmt.Errorf("read probe answer: %w", err)
		}
		if r.Id != q.Id {
			continue // a late answer to an earlier probe
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("probe %s TXT answered %s with %d records (not synced with the API yet?)", n.qname, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		return nil
	}
}

// write opens the pinned map afresh each time, so a dataplane reloaded
// under new pins is picked up.
func (n *NodeLocal) write(st lb.DNSSteering) error {
	m, err := loader.OpenPinnedDNS(n.cfg.PinRoot, n.cfg.Node)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.SetDNSSteering(st)
}

// clear turns steering off at once (graceful stop).
func (n *NodeLocal) clear() {
	n.setActive(false)
	if n.cfg.Node == "" {
		return
	}
	st := lb.DNSSteering{ClusterIP: n.cfg.ClusterDNSIP, LocalIP: n.cfg.LocalIP, MaxAge: n.cfg.MaxAge}
	if err := n.write(st); err != nil {
		n.log.Warn("could not clear the DNS heartbeat; steering ends when it ages out", "maxAge", n.cfg.MaxAge, "err", err)
		return
	}
	n.log.Info("node-local DNS stopping; pods use the kube-dns Service")
}

func (n *NodeLocal) setActive(v bool) {
	n.mu.Lock()
	n.active = v
	n.mu.Unlock()
	if v {
		n.steering.Set(1)
	} else {
		n.steering.Set(0)
	}
}

// state logs msg once per change of state.
func (n *NodeLocal) state(s string, level slog.Level, msg string, args ...any) {
	n.mu.Lock()
	same := n.lastState == s
	n.lastState = s
	n.mu.Unlock()
	if !same {
		n.log.Log(context.Background(), level, msg, args...)
	}
}
