package services

import (
	"net/netip"
	"testing"

	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/internal/nstest"
)

// BenchmarkProgram10k measures programming 10 000 services with 3 endpoints
// each into real maps from scratch, then one endpoint change.
func BenchmarkProgram10k(b *testing.B) {
	nstest.RequirePrivileged(b)
	const n = 10000
	all := make([]Service, n)
	for i := range all {
		all[i] = Service{VIP: netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}), Port: 80, Protocol: TCP}
		for j := 0; j < 3; j++ {
			all[i].Backends = append(all[i].Backends, Backend{Addr: netip.AddrFrom4([4]byte{10, 2, byte(j), byte(i % 250)}), Port: 8080})
		}
	}
	for b.Loop() {
		b.StopTimer()
		o, err := lb.Load(lb.Config{}, lb.Sizes{Services: n, Backends: 4 * n, Slots: 8 * n, Conntrack: 1024}, nil)
		if err != nil {
			b.Fatal(err)
		}
		r, err := NewReconciler(&o.Maps)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := r.Update(all); err != nil {
			b.Fatal(err)
		}
		changed := all[n/2]
		changed.Backends = append([]Backend{}, changed.Backends[:2]...)
		changed.Backends = append(changed.Backends, Backend{Addr: netip.MustParseAddr("10.3.0.1"), Port: 8080})
		if err := r.Upsert(changed); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		o.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "services/op")
}
