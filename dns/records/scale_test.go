package records

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"

	"github.com/miekg/dns"
)

// Synthetic builds n services spread over 100 namespaces: every tenth is
// headless with three ready endpoints, the rest have a ClusterIP and an
// endpoint slice of two endpoints.
func synthetic(n int) ([]*Service, []*EndpointSlice) {
	svcs := make([]*Service, 0, n)
	slices := make([]*EndpointSlice, 0, n)
	for i := range n {
		ns := fmt.Sprintf("ns%d", i%100)
		name := fmt.Sprintf("svc%d", i)
		s := &Service{Namespace: ns, Name: name, Ports: []Port{{"http", "TCP", 80}}}
		neps := 2
		if i%10 == 0 {
			s.Headless = true
			neps = 3
		} else {
			s.ClusterIPs = []netip.Addr{clusterIP(i)}
		}
		svcs = append(svcs, s)
		sl := &EndpointSlice{Namespace: ns, Name: name + "-x", Service: name, Ports: []Port{{"http", "TCP", 8080}}}
		for j := range neps {
			sl.Endpoints = append(sl.Endpoints, Endpoint{Addrs: []netip.Addr{endpointIP(i, j)}, Ready: true})
		}
		slices = append(slices, sl)
	}
	return svcs, slices
}

func clusterIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})
}

func endpointIP(i, j int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(100 + j), byte(i >> 8), byte(i)})
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestScale10000Sampled builds an index of 10 000 services and checks a
// random sample of names of every kind against the expected answers.
func TestScale10000Sampled(t *testing.T) {
	const n = 10000
	before := heapInUse()
	svcs, slices := synthetic(n)
	ix := New("cluster.local", 5)
	for _, s := range svcs {
		ix.SetService(s)
	}
	for _, s := range slices {
		ix.SetSlice(s)
	}
	ix.MarkSynced()
	after := heapInUse()
	t.Logf("index of %d services (with their objects): %.1f MiB heap", ix.Len(), float64(after-before)/(1<<20))
	if ix.Len() != n {
		t.Fatalf("index holds %d services, want %d", ix.Len(), n)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		i := rng.IntN(n)
		ns, name := fmt.Sprintf("ns%d", i%100), fmt.Sprintf("svc%d", i)
		fq := name + "." + ns + ".svc.cluster.local."
		r := ix.Resolve(fq, dns.TypeA)
		if i%10 == 0 {
			if r.Rcode != ok || len(r.Answer) != 3 {
				t.Fatalf("%s A: rcode %d, %d answers; want 3 endpoint addresses", fq, r.Rcode, len(r.Answer))
			}
			r = ix.Resolve("_http._tcp."+fq, dns.TypeSRV)
			if len(r.Answer) != 3 || r.Answer[0].(*dns.SRV).Port != 8080 {
				t.Fatalf("%s SRV: %v", fq, r.Answer)
			}
		} else {
			want := clusterIP(i)
			if r.Rcode != ok || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want.String() {
				t.Fatalf("%s A: rcode %d answer %v, want %s", fq, r.Rcode, r.Answer, want)
			}
			rev, _ := dns.ReverseAddr(want.String())
			r = ix.Resolve(rev, dns.TypePTR)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != fq {
				t.Fatalf("PTR %s: %v, want %s", rev, r.Answer, fq)
			}
		}
		miss := fmt.Sprintf("svc%d.%s.svc.cluster.local.", n+i, ns)
		if r := ix.Resolve(miss, dns.TypeA); r.Rcode != nx {
			t.Fatalf("%s: rcode %d, want NXDOMAIN", miss, r.Rcode)
		}
	}
}

// BenchmarkIndexMemory reports the heap an index of 10 000 services takes,
// the objects themselves included.
func BenchmarkIndexMemory(b *testing.B) {
	for range b.N {
		before := heapInUse()
		svcs, slices := synthetic(10000)
		ix := New("cluster.local", 5)
		for _, s := range svcs {
			ix.SetService(s)
		}
		for _, s := range slices {
			ix.SetSlice(s)
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/(1<<20), "MiB/10k-services")
		runtime.KeepAlive(ix)
	}
}

func BenchmarkResolve(b *testing.B) {
	svcs, slices := synthetic(10000)
	ix := New("cluster.local", 5)
	for _, s := range svcs {
		ix.SetService(s)
	}
	for _, s := range slices {
		ix.SetSlice(s)
	}
	ix.MarkSynced()
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("svc%d.ns%d.svc.cluster.local.", i, i%100)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 1
		for pb.Next() {
			i = (i + 7) % 10000
			ix.Resolve(names[i], dns.TypeA)
		}
	})
}
