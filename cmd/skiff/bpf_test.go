package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/skiffnet/skiff/bpf/lb"
	"github.com/skiffnet/skiff/dataplane/services"
	"github.com/skiffnet/skiff/internal/nstest"
)

func TestPrivilegedBPFListOutput(t *testing.T) {
	nstest.RequirePrivileged(t)
	o, err := lb.Load(lb.Config{}, lb.Sizes{Services: 16, Backends: 64, Slots: 64, Conntrack: 64, Maglev: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	rec, err := services.NewReconciler(&o.Maps)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	if err := rec.Update([]services.Service{
		{VIP: a("10.96.0.10"), Port: 80, Protocol: services.TCP, Backends: []services.Backend{{Addr: a("10.2.1.2"), Port: 8080}, {Addr: a("10.2.2.2"), Port: 8080}}},
		{VIP: a("10.96.0.11"), Port: 53, Protocol: services.UDP, Algorithm: services.Maglev},
	}); err != nil {
		t.Fatal(err)
	}
	k := lb.CTKey{Src: a("10.1.0.2"), Dst: a("10.96.0.10"), SrcPort: 40000, DstPort: 80, Proto: lb.ProtoTCP}
	if err := o.PutCT(k, lb.CTEntry{NATAddr: a("10.2.2.2"), NATPort: 8080, RevAddr: k.Src, RevPort: 40000, BackendID: 2, Expires: lb.Monotonic() + 3600e9}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := printLB(&buf, &o.Maps); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"10.96.0.10:80/TCP", "10.2.1.2:8080 (", "10.2.2.2:8080 (", "10.96.0.11:53/UDP", "no endpoints", "maglev"} {
		if !strings.Contains(out, want) {
			t.Fatalf("lb list lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := printCT(&buf, &o.Maps); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "10.1.0.2:40000 -> 10.96.0.10:80") || !strings.Contains(out, "10.1.0.2:40000 -> 10.2.2.2:8080") {
		t.Fatalf("ct list:\n%s", out)
	}
}
