package server

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkHandlerCluster measures the handler (no sockets) answering
// cluster names; BenchmarkHandlerCached answers a cached external name.
func BenchmarkHandlerCluster(b *testing.B) {
	s := start(b, "")
	q := query("web.default.svc.cluster.local.", dns.TypeA)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := s.Handle(ctx, q, "udp"); len(r.Answer) != 1 {
				b.Fatal("no answer")
			}
		}
	})
}

func BenchmarkHandlerCached(b *testing.B) {
	up := startUpstream(b, map[string][]string{"www.example. A": {"www.example. 3600 IN A 192.0.2.80"}})
	s := start(b, "", up.addr)
	q := query("www.example.", dns.TypeA)
	ctx := context.Background()
	s.Handle(ctx, q, "udp")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := s.Handle(ctx, q, "udp"); len(r.Answer) != 1 {
				b.Fatal("no answer")
			}
		}
	})
}
