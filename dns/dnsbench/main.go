package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/skiffnet/skiff/bench/benchproc"
	"github.com/skiffnet/skiff/dns/records"
	"github.com/skiffnet/skiff/dns/server"
)

func main() {
	n := flag.Int("services", 10000, "synthetic services to load")
	dur := flag.Duration("duration", 10*time.Second, "dnsperf run length per scenario")
	clients := flag.Int("clients", 20, "dnsperf -c (simulated clients)")
	threads := flag.Int("threads", 1, "dnsperf -T (client threads)")
	flag.Parse()
	if err := run(*n, *dur, *clients, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		os.Exit(1)
	}
}

func run(n int, dur time.Duration, clients, threads int) error {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return fmt.Errorf("dnsperf not found: install Debian's dnsperf package")
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	upAddr, stopUp, err := startUpstream()
	if err != nil {
		return err
	}
	defer stopUp()

	heap0, rss0 := memory()
	svcs, slices := synthetic(n)
	src := records.NewMemory(svcs, slices)
	srv, err := server.New(server.Config{Listen: "127.0.0.1:0", Upstreams: []string{upAddr}}, src)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	<-src.Started()
	svcs, slices = nil, nil
	heap1, rss1 := memory()
	fmt.Printf("services loaded: %d (index holds %d)\n", n, srv.Index().Len())
	fmt.Printf("memory for %d services: heap +%.1f MiB, RSS +%.1f MiB (RSS now %.1f MiB)\n",
		n, mib(heap1-heap0), mib(rss1-rss0), mib(rss1))

	dir, err := os.MkdirTemp("", "skiff-dnsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rng := rand.New(rand.NewPCG(7, 7))
	var cluster, external strings.Builder
	for range 20000 {
		i := rng.IntN(n)
		fmt.Fprintf(&cluster, "svc%d.ns%d.svc.cluster.local A\n", i, i%100)
	}
	for i := range 1000 {
		fmt.Fprintf(&external, "host%d.example.net A\n", i)
	}
	cf, ef := filepath.Join(dir, "cluster.txt"), filepath.Join(dir, "external.txt")
	if err := os.WriteFile(cf, []byte(cluster.String()), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(ef, []byte(external.String()), 0o600); err != nil {
		return err
	}
	// Warm the cache so the external run measures cache hits.
	c := &dns.Client{Timeout: 2 * time.Second}
	for i := range 1000 {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("host%d.example.net.", i), dns.TypeA)
		if _, _, err := c.Exchange(m, srv.Addr()); err != nil {
			return fmt.Errorf("warm cache: %w", err)
		}
	}
	for _, sc := range []struct{ name, file string }{{"cluster names", cf}, {"cached external names", ef}} {
		qps, lost, err := dnsperf(srv.Addr(), sc.file, dur, clients, threads)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		fmt.Printf("QPS %-22s %10.0f  (lost %s)\n", sc.name+":", qps, lost)
	}
	heap2, rss2 := memory()
	fmt.Printf("after runs: heap %.1f MiB, RSS %.1f MiB; GOMAXPROCS %d\n", mib(heap2), mib(rss2), runtime.GOMAXPROCS(0))
	cancel()
	return <-done
}

var (
	qpsRe  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	lostRe = regexp.MustCompile(`Queries lost:\s+(\S+ \([^)]*\))`)
)

func dnsperf(addr, file string, dur time.Duration, clients, threads int) (float64, string, error) {
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("dnsperf", "-s", host, "-p", port, "-d", file,
		"-l", strconv.Itoa(int(dur.Seconds())), "-c", strconv.Itoa(clients), "-T", strconv.Itoa(threads),
		"-q", "500").CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("dnsperf: %v\n%s", err, out)
	}
	m := qpsRe.FindSubmatch(out)
	if m == nil {
		return 0, "", fmt.Errorf("no QPS in dnsperf output:\n%s", out)
	}
	qps, _ := strconv.ParseFloat(string(m[1]), 64)
	lost := "?"
	if l := lostRe.FindSubmatch(out); l != nil {
		lost = string(l[1])
	}
	return qps, lost, nil
}

// startUpstream answers every A question with one address, TTL 1 h.
func startUpstream() (string, func(), error) {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 3600}, A: []byte{192, 0, 2, 1}}}
		}
		_ = w.WriteMsg(m)
	})
	s := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: h}
	ready := make(chan struct{})
	s.NotifyStartedFunc = func() { close(ready) }
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe() }()
	select {
	case <-ready:
	case err := <-errc:
		return "", nil, fmt.Errorf("start local upstream: %w", err)
	}
	return s.PacketConn.LocalAddr().String(), func() { _ = s.Shutdown() }, nil
}

// synthetic builds n services over 100 namespaces: every tenth headless
// with three endpoints, the others a ClusterIP and two endpoints.
func synthetic(n int) ([]*records.Service, []*records.EndpointSlice) {
	svcs := make([]*records.Service, 0, n)
	slices := make([]*records.EndpointSlice, 0, n)
	for i := range n {
		ns, name := fmt.Sprintf("ns%d", i%100), fmt.Sprintf("svc%d", i)
		s := &records.Service{Namespace: ns, Name: name, Ports: []records.Port{{Name: "http", Protocol: "TCP", Port: 80}}}
		neps := 2
		if i%10 == 0 {
			s.Headless, neps = true, 3
		} else {
			s.ClusterIPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})}
		}
		svcs = append(svcs, s)
		sl := &records.EndpointSlice{Namespace: ns, Name: name + "-x", Service: name,
			Ports: []records.Port{{Name: "http", Protocol: "TCP", Port: 8080}}}
		for j := range neps {
			sl.Endpoints = append(sl.Endpoints, records.Endpoint{
				Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, byte(100 + j), byte(i >> 8), byte(i)})}, Ready: true})
		}
		slices = append(slices, sl)
	}
	return svcs, slices
}

func memory() (heap, rss uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cur, _, _ := benchproc.RSS(os.Getpid())
	return ms.HeapAlloc, uint64(cur)
}

func mib(v uint64) float64 { return float64(int64(v)) / (1 << 20) }
