package server

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/skiffnet/skiff/dns/records"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func testSource() *records.Memory {
	svcs := []*records.Service{
		{Namespace: "default", Name: "web", ClusterIPs: []netip.Addr{ip("10.96.0.20")},
			Ports: []records.Port{{Name: "http", Protocol: "TCP", Port: 80}}},
		{Namespace: "default", Name: "hl", Headless: true, Ports: []records.Port{{Name: "http", Protocol: "TCP", Port: 80}}},
		{Namespace: "default", Name: "ext", ExternalName: "external.test"},
	}
	sl := &records.EndpointSlice{Namespace: "default", Name: "hl-1", Service: "hl",
		Ports: []records.Port{{Name: "http", Protocol: "TCP", Port: 8080}}}
	// 100 endpoints: far more than fit in 512 bytes.
	for i := range 100 {
		sl.Endpoints = append(sl.Endpoints, records.Endpoint{
			Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)})}, Ready: true})
	}
	return records.NewMemory(svcs, []*records.EndpointSlice{sl})
}

// start builds and runs a server over the test source; listen "" means no
// sockets (Handle is called directly).
func start(t testing.TB, listen string, upstreams ...string) *Server {
	t.Helper()
	if len(upstreams) == 0 {
		upstreams = []string{"127.0.0.1:1"} // nothing listens: forwarding fails fast
	}
	src := testSource()
	s, err := New(Config{Listen: listen, Upstreams: upstreams, ForwardTimeout: time.Second, UDPSockets: 1,
		Logger: slog.New(slog.DiscardHandler)}, src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case <-src.Started():
	case <-time.After(5 * time.Second):
		t.Fatal("source did not start")
	}
	return s
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// fakeUpstream is a miekg/dns server on 127.0.0.1 answering from a table;
// names it does not know get NXDOMAIN with an SOA. It counts queries.
type fakeUpstream struct {
	addr    string
	queries atomic.Int64
	tcp     atomic.Int64
	down    atomic.Bool
}

func startUpstream(t testing.TB, answers map[string][]string) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		f.queries.Add(1)
		if w.RemoteAddr().Network() == "tcp" {
			f.tcp.Add(1)
		}
		if f.down.Load() {
			return // no reply: the client times out
		}
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		lines, ok := answers[q.Name+" "+dns.TypeToString[q.Qtype]]
		if !ok {
			m.Rcode = dns.RcodeNameError
			soa, _ := dns.NewRR("test. 60 IN SOA ns.test. h.test. 1 2 3 4 30")
			m.Ns = []dns.RR{soa}
		}
		for _, l := range lines {
			rr, err := dns.NewRR(l)
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		size := 512
		if o := r.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		if w.RemoteAddr().Network() == "udp" {
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	})
	udp := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: h}
	ready := make(chan struct{})
	udp.NotifyStartedFunc = func() { close(ready) }
	go func() { _ = udp.ListenAndServe() }()
	<-ready
	f.addr = udp.PacketConn.LocalAddr().String()
	tcp := &dns.Server{Addr: f.addr, Net: "tcp", Handler: h}
	ready2 := make(chan struct{})
	tcp.NotifyStartedFunc = func() { close(ready2) }
	go func() { _ = tcp.ListenAndServe() }()
	<-ready2
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return f
}
