package records

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// fixture returns the services and slices used across the record tests.
func fixture() ([]*Service, []*EndpointSlice) {
	svcs := []*Service{
		{Namespace: "default", Name: "web", ClusterIPs: []netip.Addr{ip("10.96.0.20"), ip("fd00::20")},
			Ports: []Port{{"http", "TCP", 80}, {"dns", "UDP", 53}, {"", "TCP", 8080}}},
		{Namespace: "default", Name: "hl", Headless: true, Ports: []Port{{"http", "TCP", 80}}},
		{Namespace: "default", Name: "empty-hl", Headless: true, Ports: []Port{{"http", "TCP", 80}}},
		{Namespace: "default", Name: "ext", ExternalName: "Example.COM"},
		{Namespace: "default", Name: "alias", ExternalName: "web.default.svc.cluster.local"},
		{Namespace: "other", Name: "db", ClusterIPs: []netip.Addr{ip("10.96.0.30")},
			Ports: []Port{{"mysql", "TCP", 3306}}},
	}
	slices := []*EndpointSlice{
		{Namespace: "default", Name: "hl-abc", Service: "hl", Ports: []Port{{"http", "TCP", 8080}},
			Endpoints: []Endpoint{
				{Addrs: []netip.Addr{ip("10.1.0.1")}, Hostname: "web-0", Ready: true},
				{Addrs: []netip.Addr{ip("10.1.0.2")}, Ready: true},
				{Addrs: []netip.Addr{ip("10.1.0.3")}, Ready: false},
			}},
		{Namespace: "default", Name: "empty-hl-x", Service: "empty-hl", Ports: []Port{{"http", "TCP", 8080}},
			Endpoints: []Endpoint{{Addrs: []netip.Addr{ip("10.1.0.9")}, Ready: false}}},
		{Namespace: "default", Name: "web-1", Service: "web", Ports: []Port{{"http", "TCP", 8080}},
			Endpoints: []Endpoint{{Addrs: []netip.Addr{ip("10.1.1.1")}, Ready: true}}},
	}
	return svcs, slices
}

// loaded returns an index fed (and synced) by a Memory source.
func loaded(t testing.TB) *Index {
	t.Helper()
	ix := New("cluster.local", 5)
	svcs, slices := fixture()
	m := NewMemory(svcs, slices)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go m.Run(ctx, ix)
	select {
	case <-m.Started():
	case <-time.After(5 * time.Second):
		t.Fatal("memory source did not start")
	}
	return ix
}
