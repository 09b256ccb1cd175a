package services

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/internal/nstest"
)

func TestPrivilegedReconcileRealMaps(t *testing.T) {
	nstest.RequirePrivileged(t)
	o, err := lb.Load(lb.Config{}, lb.Sizes{Services: 64, Backends: 256, Slots: 256, Maglev: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, err := NewReconciler(&o.Maps)
	if err != nil {
		t.Fatal(err)
	}
	a := svc("10.96.0.1", 80, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	b := svc("10.96.0.2", 53, "10.0.0.4")
	b.Protocol, b.Algorithm, b.Affinity = UDP, Maglev, 10800*time.Second
	if err := r.Update([]Service{a, b}); err != nil {
		t.Fatal(err)
	}
	a.Backends = a.Backends[1:]
	if err := r.Update([]Service{a, b}); err != nil {
		t.Fatal(err)
	}
	bes, err := o.ListBackends()
	if err != nil || len(bes) != 3 {
		t.Fatalf("backends %v %v", bes, err)
	}
	slots, err := o.ListSlots()
	if err != nil || len(slots) != 3 {
		t.Fatalf("slots %v %v", slots, err)
	}
	tables, err := o.ListMaglevKeys()
	if err != nil || len(tables) != 1 {
		t.Fatalf("maglev tables %v %v", tables, err)
	}
	// A new reconciler over the same maps restores the same services.
	r2, err := NewReconciler(&o.Maps)
	if err != nil {
		t.Fatal(err)
	}
	got := r2.Services()
	if len(got) != 2 || len(got[0].Backends) != 2 || got[0].Backends[0].Addr != netip.MustParseAddr("10.0.0.2") ||
		got[1].Algorithm != Maglev || got[1].Affinity != 10800*time.Second {
		t.Fatalf("restored %+v", got)
	}
	if err := r2.Update(nil); err != nil {
		t.Fatal(err)
	}
	if s, _ := o.ListServices(); len(s) != 0 {
		t.Fatalf("services left: %v", s)
	}
	if bes, _ := o.ListBackends(); len(bes) != 0 {
		t.Fatalf("backends left: %v", bes)
	}
}

func TestPrivilegedServiceMapFullLeavesNothing(t *testing.T) {
	nstest.RequirePrivileged(t)
	o, err := lb.Load(lb.Config{}, lb.Sizes{Services: 1, Backends: 16, Slots: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, err := NewReconciler(&o.Maps)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Upsert(svc("10.96.0.1", 80, "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	err = r.Upsert(svc("10.96.0.2", 80, "10.0.0.2", "10.0.0.3"))
	if err == nil || !strings.Contains(err.Error(), "raise the map size") {
		t.Fatalf("full service map: %v", err)
	}
	bes, _ := o.ListBackends()
	slots, _ := o.ListSlots()
	if len(bes) != 1 || len(slots) != 1 || len(r.Services()) != 1 {
		t.Fatalf("failed write left %d backends, %d slots, %d services", len(bes), len(slots), len(r.Services()))
	}
}

func TestPrivilegedBatchedCreateRealMaps(t *testing.T) {
	nstest.RequirePrivileged(t)
	o, err := lb.Load(lb.Config{}, lb.Sizes{Services: 512, Backends: 2048, Slots: 2048, Maglev: 128}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	r, err := NewReconciler(&o.Maps)
	if err != nil {
		t.Fatal(err)
	}
	var all []Service
	for i := 0; i < 200; i++ {
		s := svc(netip.AddrFrom4([4]byte{10, 96, 0, byte(i + 1)}).String(), 80, "10.0.0.1", "10.0.0.2", "10.0.0.3")
		if i%4 == 0 {
			s.Algorithm = Maglev
		}
		all = append(all, s)
	}
	if err := r.Update(all); err != nil {
		t.Fatal(err)
	}
	svcs, _ := o.ListServices()
	slots, _ := o.ListSlots()
	bes, _ := o.ListBackends()
	tables, _ := o.ListMaglevKeys()
	if len(svcs) != 200 || len(slots) != 600 || len(bes) != 600 || len(tables) != 50 {
		t.Fatalf("services %d slots %d backends %d tables %d", len(svcs), len(slots), len(bes), len(tables))
	}
	r2, err := NewReconciler(&o.Maps)
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.Services(); len(got) != 200 || len(got[0].Backends) != 3 {
		t.Fatalf("restored %d services", len(got))
	}
}
