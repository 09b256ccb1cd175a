package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestForwardCacheAndStale forwards to a fake upstream on 127.0.0.1 and
// checks caching, negative caching, TCP retry on truncation, and
// serve-stale when the upstream stops answering.
func TestForwardCacheAndStale(t *testing.T) {
	big := make([]string, 0, 100)
	for i := range 100 {
		big = append(big, "big.example. 300 IN A 192.0.2."+itoa(i+1))
	}
	up := startUpstream(t, map[string][]string{
		"www.example. A":   {"www.example. 300 IN A 192.0.2.80"},
		"big.example. A":   big,
		"short.example. A": {"short.example. 1 IN A 192.0.2.9"},
	})
	s := start(t, "", up.addr)
	now := time.Now()
	s.cache.SetClock(func() time.Time { return now })
	ctx := context.Background()

	r := s.Handle(ctx, query("www.example.", dns.TypeA), "udp")
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Authoritative {
		t.Fatalf("forwarded answer: %v", r)
	}
	n := up.queries.Load()
	r = s.Handle(ctx, query("WWW.example.", dns.TypeA), "udp")
	if len(r.Answer) != 1 || up.queries.Load() != n {
		t.Fatalf("second query was not served from cache (upstream saw %d, had %d)", up.queries.Load(), n)
	}
	// Negative caching: NXDOMAIN cached for the SOA minimum (30 s).
	r = s.Handle(ctx, query("nx.example.", dns.TypeA), "udp")
	if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 {
		t.Fatalf("NXDOMAIN: %v", r)
	}
	n = up.queries.Load()
	s.Handle(ctx, query("nx.example.", dns.TypeA), "udp")
	if up.queries.Load() != n {
		t.Fatal("NXDOMAIN was not cached")
	}
	now = now.Add(31 * time.Second)
	s.Handle(ctx, query("nx.example.", dns.TypeA), "udp")
	if up.queries.Load() != n+1 {
		t.Fatal("NXDOMAIN stayed cached past its SOA minimum")
	}
	// TTLs age in the cache.
	now = now.Add(100 * time.Second)
	r = s.Handle(ctx, query("www.example.", dns.TypeA), "udp")
	if ttl := r.Answer[0].Header().Ttl; ttl != 300-131 {
		t.Fatalf("cached TTL %d, want %d", ttl, 300-131)
	}
	// Truncated upstream UDP answer: retried over TCP, full answer.
	tcpBefore := up.tcp.Load()
	m := query("big.example.", dns.TypeA)
	m.SetEdns0(4096, false)
	r = s.Handle(ctx, m, "tcp")
	if len(r.Answer) != 100 || up.tcp.Load() != tcpBefore+1 {
		t.Fatalf("big answer: %d records, upstream TCP queries %d->%d", len(r.Answer), tcpBefore, up.tcp.Load())
	}
	// Serve-stale: expired entry, dead upstream.
	s.Handle(ctx, query("short.example.", dns.TypeA), "udp")
	now = now.Add(10 * time.Second)
	up.down.Store(true)
	r = s.Handle(ctx, query("short.example.", dns.TypeA), "udp")
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 30 {
		t.Fatalf("stale answer: %v", r)
	}
}

// TestMetrics checks the Prometheus endpoint counts queries, rcodes and
// cache hits.
func TestMetrics(t *testing.T) {
	up := startUpstream(t, map[string][]string{"www.example. A": {"www.example. 300 IN A 192.0.2.80"}})
	src := testSource()
	s, err := New(Config{Listen: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", Upstreams: []string{up.addr}, UDPSockets: 1}, src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	<-src.Started()
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, q := range []string{"web.default.svc.cluster.local.", "nope.default.svc.cluster.local.", "www.example.", "www.example."} {
		if _, _, err := c.Exchange(query(q, dns.TypeA), s.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + s.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`skiff_dns_queries_total{proto="udp",type="A"} 4`,
		`skiff_dns_responses_total{rcode="NXDOMAIN"} 1`,
		`skiff_dns_responses_total{rcode="NOERROR"} 3`,
		`skiff_dns_cache_total{result="hit"} 1`,
		`skiff_dns_cache_total{result="miss"} 1`,
		`skiff_dns_request_duration_seconds_count{source="cluster"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
