package lb

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/skiffnet/skiff/internal/nstest"
)

const (
	actOK       = 0
	actShot     = 2
	actRedirect = 7
	actUnspec   = 0xffffffff
)

var (
	client  = netip.MustParseAddr("10.1.0.2")
	vip     = netip.MustParseAddr("10.96.0.10")
	hairpin = netip.MustParseAddr("10.0.0.254")
	be1     = netip.MustParseAddr("10.2.0.11")
	be2     = netip.MustParseAddr("10.2.0.12")
	be3     = netip.MustParseAddr("10.2.0.13")
)

type harness struct {
	t      *testing.T
	o      *Objects
	nextID uint32
}

func newHarness(t *testing.T, sizes Sizes) *harness {
	t.Helper()
	nstest.RequirePrivileged(t)
	o, err := Load(Config{HairpinAddr: hairpin}, sizes, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return &harness{t: t, o: o, nextID: 1}
}

// service programs a service directly through the Maps API.
func (h *harness) service(vipAddr netip.Addr, port uint16, proto uint8, e ServiceEntry, bes ...netip.Addr) (uint32, []uint32) {
	h.t.Helper()
	svcID := h.nextID
	h.nextID++
	var ids []uint32
	var names []string
	for i, b := range bes {
		id := h.nextID
		h.nextID++
		if err := h.o.PutBackend(id, Backend{Addr: b, Port: 8080, ServiceID: svcID}); err != nil {
			h.t.Fatal(err)
		}
		if err := h.o.PutSlot(svcID, 0, uint16(i), id); err != nil {
			h.t.Fatal(err)
		}
		ids = append(ids, id)
		names = append(names, b.String())
	}
	if e.Maglev {
		if err := h.o.PutMaglev(svcID, 0, MaglevTable(names, ids)); err != nil {
			h.t.Fatal(err)
		}
	}
	e.ID, e.Count = svcID, uint16(len(bes))
	if err := h.o.PutService(ServiceKey{VIP: vipAddr, Port: port, Proto: proto}, e); err != nil {
		h.t.Fatal(err)
	}
	return svcID, ids
}

func (h *harness) run(in []byte) (uint32, []byte) {
	h.t.Helper()
	out := make([]byte, len(in)+256)
	ret, err := h.o.Program.Run(&ebpf.RunOptions{Data: in, DataOut: out})
	if err != nil {
		h.t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	return ret, out
}

// send runs p and expects verdict want; it returns the parsed output with
// all checksums verified.
func (h *harness) send(p pkt, want uint32) *parsed {
	h.t.Helper()
	return h.sendRaw(p.bytes(), want)
}

func (h *harness) sendRaw(in []byte, want uint32) *parsed {
	h.t.Helper()
	out := make([]byte, len(in)+256)
	opts := &ebpf.RunOptions{Data: in, DataOut: out}
	ret, err := h.o.Program.Run(opts)
	if err != nil {
		h.t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	if ret != want {
		h.t.Fatalf("verdict %d, want %d (stats %v)", int32(ret), int32(want), h.stats())
	}
	got, err := parse(opts.DataOut)
	if err != nil {
		h.t.Fatalf("output packet: %v", err)
	}
	return got
}

func (h *harness) stats() map[string]uint64 {
	s, err := h.o.ReadStats()
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func expectTuple(t *testing.T, got *parsed, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) {
	t.Helper()
	if got.src != src || got.sport != sport || got.dst != dst || got.dport != dport {
		t.Fatalf("packet %s:%d -> %s:%d, want %s:%d -> %s:%d", got.src, got.sport, got.dst, got.dport, src, sport, dst, dport)
	}
}

func isBackend(a netip.Addr, bes ...netip.Addr) bool {
	for _, b := range bes {
		if a == b {
			return true
		}
	}
	return false
}

func TestPrivilegedTCPFlow(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.service(vip, 80, ProtoTCP, ServiceEntry{}, be1, be2, be3)
	syn := pkt{src: client, dst: vip, sport: 40000, dport: 80, proto: ProtoTCP, tcpFlags: fSYN, seq: 100}
	got := h.send(syn, actOK)
	if !isBackend(got.dst, be1, be2, be3) || got.dport != 8080 || got.src != client || got.sport != 40000 {
		t.Fatalf("SYN not translated to a backend: %+v", got)
	}
	backend := got.dst
	// Every later packet of the flow reaches the same backend.
	for _, f := range []uint8{fACK, fACK | 0x08, fACK, fFIN | fACK} {
		p := syn
		p.tcpFlags, p.payload = f, []byte("hello")
		g := h.send(p, actOK)
		expectTuple(t, g, client, 40000, backend, 8080)
	}
	// Replies are reverse-translated: SYN-ACK, data, FIN, RST.
	for _, f := range []uint8{fSYN | fACK, fACK, fFIN | fACK, fRST} {
		r := pkt{src: backend, dst: client, sport: 8080, dport: 40000, proto: ProtoTCP, tcpFlags: f, payload: []byte("x")}
		g := h.send(r, actOK)
		expectTuple(t, g, vip, 80, client, 40000)
		if g.tcpFlags != f {
			t.Fatalf("flags changed: %#x -> %#x", f, g.tcpFlags)
		}
	}
	ct, ok, err := h.o.LookupCT(CTKey{Src: client, Dst: vip, SrcPort: 40000, DstPort: 80, Proto: ProtoTCP})
	if err != nil || !ok {
		t.Fatalf("no forward CT entry: %v", err)
	}
	if !ct.Closing || ct.NATAddr != backend || ct.NATPort != 8080 {
		t.Fatalf("forward CT entry %+v: want closing, %s:8080", ct, backend)
	}
	// A client RST is translated as well.
	rst := syn
	rst.tcpFlags = fRST
	expectTuple(t, h.send(rst, actOK), client, 40000, backend, 8080)
	// Traffic that is not for a service passes untouched.
	other := pkt{src: client, dst: be1, sport: 1, dport: 22, proto: ProtoTCP, tcpFlags: fSYN}
	expectTuple(t, h.send(other, actUnspec), client, 1, be1, 22)
	if s := h.stats(); s["new_flow"] != 1 || s["forward"] != 5 || s["reply"] != 4 {
		t.Fatalf("stats %v", s)
	}
}

func TestPrivilegedUDPFlowAndZeroChecksum(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.service(vip, 53, ProtoUDP, ServiceEntry{}, be1, be2)
	q := pkt{src: client, dst: vip, sport: 5353, dport: 53, proto: ProtoUDP, payload: []byte("query")}
	g := h.send(q, actOK)
	if !isBackend(g.dst, be1, be2) || g.dport != 8080 {
		t.Fatalf("UDP not translated: %+v", g)
	}
	backend := g.dst
	for i := 0; i < 5; i++ {
		expectTuple(t, h.send(q, actOK), client, 5353, backend, 8080)
	}
	r := pkt{src: backend, dst: client, sport: 8080, dport: 5353, proto: ProtoUDP, payload: []byte("answer")}
	expectTuple(t, h.send(r, actOK), vip, 53, client, 5353)
	// A datagram without checksum keeps "no checksum".
	raw := pkt{src: client, dst: vip, sport: 6000, dport: 53, proto: ProtoUDP, payload: []byte("q")}.bytes()
	raw[14+20+6], raw[14+20+7] = 0, 0
	out := make([]byte, len(raw)+64)
	opts := &ebpf.RunOptions{Data: raw, DataOut: out}
	if ret, err := h.o.Program.Run(opts); err != nil || ret != actOK {
		t.Fatalf("ret %d err %v", ret, err)
	}
	if o := opts.DataOut; o[14+20+6] != 0 || o[14+20+7] != 0 {
		t.Fatalf("zero UDP checksum became %x%x", o[40], o[41])
	}
	if _, err := parse(opts.DataOut); err != nil {
		t.Fatal(err)
	}
}

func TestPrivilegedICMPErrors(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.service(vip, 80, ProtoTCP, ServiceEntry{}, be1)
	h.service(vip, 53, ProtoUDP, ServiceEntry{}, be2)
	syn := pkt{src: client, dst: vip, sport: 41000, dport: 80, proto: ProtoTCP, tcpFlags: fSYN}
	h.send(syn, actOK)
	udp := pkt{src: client, dst: vip, sport: 41001, dport: 53, proto: ProtoUDP, payload: []byte("q")}
	h.send(udp, actOK)

	// Fragmentation needed, sent by the backend about a translated segment
	// (client -> be1:8080): must reach the client quoting client -> VIP:80.
	quoted := pkt{src: client, dst: be1, sport: 41000, dport: 8080, proto: ProtoTCP, tcpFlags: fACK, payload: make([]byte, 100)}.bytes()[14:]
	g := h.sendRaw(icmpError(be1, client, 3, 4, quoted), actOK)
	if g.src != vip || g.dst != client || g.icmpType != 3 || g.icmpCode != 4 {
		t.Fatalf("outer %+v", g)
	}
	expectTuple(t, g.inner, client, 41000, vip, 80)

	// Port unreachable from a router in between (not the backend): only
	// the quoted packet changes.
	router := netip.MustParseAddr("10.2.0.1")
	quotedU := pkt{src: client, dst: be2, sport: 41001, dport: 8080, proto: ProtoUDP, payload: []byte("q")}.bytes()[14:]
	g = h.sendRaw(icmpError(router, client, 3, 3, quotedU), actOK)
	if g.src != router || g.dst != client {
		t.Fatalf("outer %+v", g)
	}
	expectTuple(t, g.inner, client, 41001, vip, 53)

	// Port unreachable from the client about a reply (VIP:53 -> client):
	// goes to the backend quoting be2:8080 -> client.
	quotedR := pkt{src: vip, dst: client, sport: 53, dport: 41001, proto: ProtoUDP, payload: []byte("a")}.bytes()[14:]
	g = h.sendRaw(icmpError(client, vip, 3, 3, quotedR), actOK)
	if g.src != client || g.dst != be2 {
		t.Fatalf("outer %+v", g)
	}
	expectTuple(t, g.inner, be2, 8080, client, 41001)

	// The node's own frag-needed about the translated segment leaves by
	// egress; the egress program translates it the same way.
	node := netip.MustParseAddr("10.1.0.1")
	out := make([]byte, 200)
	opts := &ebpf.RunOptions{Data: icmpError(node, client, 3, 4, quoted), DataOut: out}
	if ret, err := h.o.Egress.Run(opts); err != nil || ret != actOK {
		t.Fatalf("egress: verdict %d err %v", int32(ret), err)
	}
	g, err := parse(opts.DataOut)
	if err != nil {
		t.Fatal(err)
	}
	if g.src != node || g.dst != client {
		t.Fatalf("outer %+v", g)
	}
	expectTuple(t, g.inner, client, 41000, vip, 80)
	// Non-ICMP traffic passes egress untouched.
	opts = &ebpf.RunOptions{Data: syn.bytes(), DataOut: out}
	if ret, err := h.o.Egress.Run(opts); err != nil || ret != actUnspec {
		t.Fatalf("egress TCP: verdict %d err %v", int32(ret), err)
	}

	// An ICMP error about an unknown flow is left alone.
	quotedX := pkt{src: client, dst: be3, sport: 1, dport: 2, proto: ProtoUDP}.bytes()[14:]
	h.sendRaw(icmpError(be3, client, 3, 3, quotedX), actUnspec)
	if s := h.stats(); s["icmp_error_translated"] != 4 {
		t.Fatalf("stats %v", s)
	}
}

func TestPrivilegedNoEndpoints(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.service(vip, 80, ProtoTCP, ServiceEntry{})
	h.service(vip, 53, ProtoUDP, ServiceEntry{})

	syn := pkt{src: client, dst: vip, sport: 42000, dport: 80, proto: ProtoTCP, tcpFlags: fSYN, seq: 1000, payload: []byte("opt")}
	g := h.send(syn, actRedirect)
	expectTuple(t, g, vip, 80, client, 42000)
	if g.tcpFlags != fRST|fACK || g.ack != 1000+3+1 {
		t.Fatalf("reply flags %#x ack %d, want RST|ACK ack %d", g.tcpFlags, g.ack, 1004)
	}
	// A segment with ACK gets an RST whose seq is that ack number.
	ack := syn
	ack.tcpFlags, ack.ack, ack.payload = fACK, 777, nil
	g = h.send(ack, actRedirect)
	if g.tcpFlags != fRST || g.seq != 777 {
		t.Fatalf("reply flags %#x seq %d", g.tcpFlags, g.seq)
	}
	// An RST is never answered.
	rst := syn
	rst.tcpFlags = fRST
	if ret, _ := h.run(rst.bytes()); ret != actShot {
		t.Fatalf("RST to empty service: verdict %d", ret)
	}

	udp := pkt{src: client, dst: vip, sport: 42001, dport: 53, proto: ProtoUDP, payload: []byte("query-bytes")}
	g = h.send(udp, actRedirect)
	if g.src != vip || g.dst != client || g.proto != 1 || g.icmpType != 3 || g.icmpCode != 3 {
		t.Fatalf("want ICMP port unreachable VIP -> client, got %+v", g)
	}
	expectTuple(t, g.inner, client, 42001, vip, 53)
	if s := h.stats(); s["rejected_tcp_rst"] != 3 || s["rejected_icmp_unreachable"] != 1 {
		t.Fatalf("stats %v", s)
	}
}

func TestPrivilegedAffinityAndAlgorithms(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.service(vip, 80, ProtoTCP, ServiceEntry{Affinity: true, AffinityTimeout: 10800e9}, be1, be2, be3)
	h.service(vip, 81, ProtoTCP, ServiceEntry{}, be1, be2, be3)
	h.service(vip, 82, ProtoTCP, ServiceEntry{Maglev: true}, be1, be2, be3)

	seen := func(port uint16, src netip.Addr) map[netip.Addr]int {
		m := map[netip.Addr]int{}
		for i := 0; i < 30; i++ {
			g := h.send(pkt{src: src, dst: vip, sport: uint16(20000 + i), dport: port, proto: ProtoTCP, tcpFlags: fSYN}, actOK)
			m[g.dst]++
		}
		return m
	}
	if m := seen(80, client); len(m) != 1 {
		t.Fatalf("affinity: one client reached %v", m)
	}
	if s := h.stats(); s["affinity_hit"] != 29 {
		t.Fatalf("affinity hits %d, want 29", s["affinity_hit"])
	}
	// An affinity older than the service's timeout is not honoured.
	svc83, ids83 := h.service(vip, 83, ProtoTCP, ServiceEntry{Affinity: true, AffinityTimeout: time.Second}, be1, be2, be3)
	ak := lbAffinityKey{Client: addrU32(client), SvcId: svc83}
	stale := lbAffinityEntry{LastUsed: uint64(Monotonic() - 2*time.Second), BackendId: ids83[0]}
	must(t, h.o.Affinity.Put(ak, stale))
	hits := h.stats()["affinity_hit"]
	h.send(pkt{src: client, dst: vip, sport: 30000, dport: 83, proto: ProtoTCP, tcpFlags: fSYN}, actOK)
	if got := h.stats()["affinity_hit"]; got != hits {
		t.Fatalf("expired affinity used (hits %d -> %d)", hits, got)
	}
	var fresh lbAffinityEntry
	must(t, h.o.Affinity.Lookup(ak, &fresh))
	if time.Duration(fresh.LastUsed) < Monotonic()-time.Second {
		t.Fatal("affinity entry not refreshed by the new flow")
	}
	if m := seen(81, client); len(m) < 2 {
		t.Fatalf("random: 30 flows all reached %v", m)
	}
	if m := seen(82, client); len(m) < 2 {
		t.Fatalf("maglev: 30 flows all reached %v", m)
	}
	// Maglev is a pure function of the tuple: a flow whose CT entry is
	// gone lands on the same backend again.
	p := pkt{src: client, dst: vip, sport: 33333, dport: 82, proto: ProtoTCP, tcpFlags: fSYN}
	first := h.send(p, actOK).dst
	for i := 0; i < 5; i++ {
		k := CTKey{Src: client, Dst: vip, SrcPort: 33333, DstPort: 82, Proto: ProtoTCP}
		if err := h.o.CT.Delete(ctKeyTo(k)); err != nil {
			t.Fatal(err)
		}
		if g := h.send(p, actOK); g.dst != first {
			t.Fatalf("maglev moved flow from %s to %s", first, g.dst)
		}
	}
}

func TestPrivilegedHairpin(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.service(vip, 80, ProtoTCP, ServiceEntry{}, be1)
	syn := pkt{src: be1, dst: vip, sport: 43000, dport: 80, proto: ProtoTCP, tcpFlags: fSYN}
	expectTuple(t, h.send(syn, actOK), hairpin, 43000, be1, 8080)
	synack := pkt{src: be1, dst: hairpin, sport: 8080, dport: 43000, proto: ProtoTCP, tcpFlags: fSYN | fACK}
	expectTuple(t, h.send(synack, actOK), vip, 80, be1, 43000)
	if s := h.stats(); s["hairpin"] != 1 {
		t.Fatalf("stats %v", s)
	}
}

func TestPrivilegedConntrackFull(t *testing.T) {
	h := newHarness(t, Sizes{Conntrack: 4})
	h.service(vip, 80, ProtoTCP, ServiceEntry{}, be1)
	flow := func(sport uint16) pkt {
		return pkt{src: client, dst: vip, sport: sport, dport: 80, proto: ProtoTCP, tcpFlags: fSYN}
	}
	h.send(flow(1), actOK)
	h.send(flow(2), actOK) // 2 flows x 2 directions: the map is full
	if ret, _ := h.run(flow(3).bytes()); ret != actShot {
		t.Fatalf("new flow on a full conntrack map: verdict %d, want drop", ret)
	}
	if s := h.stats(); s["drop_conntrack_full"] != 1 {
		t.Fatalf("stats %v", s)
	}
	// Established flows are untouched, both ways.
	for _, sp := range []uint16{1, 2} {
		p := flow(sp)
		p.tcpFlags = fACK
		expectTuple(t, h.send(p, actOK), client, sp, be1, 8080)
		r := pkt{src: be1, dst: client, sport: 8080, dport: sp, proto: ProtoTCP, tcpFlags: fACK}
		expectTuple(t, h.send(r, actOK), vip, 80, client, sp)
	}
}

func TestPrivilegedRemovedBackend(t *testing.T) {
	h := newHarness(t, Sizes{})
	svcU, idsU := h.service(vip, 53, ProtoUDP, ServiceEntry{}, be1)
	svcT, idsT := h.service(vip, 80, ProtoTCP, ServiceEntry{}, be1)
	u := pkt{src: client, dst: vip, sport: 44000, dport: 53, proto: ProtoUDP, payload: []byte("q")}
	expectTuple(t, h.send(u, actOK), client, 44000, be1, 8080)
	tc := pkt{src: client, dst: vip, sport: 44001, dport: 80, proto: ProtoTCP, tcpFlags: fSYN}
	expectTuple(t, h.send(tc, actOK), client, 44001, be1, 8080)

	// Replace be1 by be2 in both services (what the reconciler does).
	for _, s := range []struct {
		svc  uint32
		old  uint32
		port uint16
		pr   uint8
	}{{svcU, idsU[0], 53, ProtoUDP}, {svcT, idsT[0], 80, ProtoTCP}} {
		id := h.nextID
		h.nextID++
		must(t, h.o.PutBackend(id, Backend{Addr: be2, Port: 8080, ServiceID: s.svc}))
		must(t, h.o.PutSlot(s.svc, 1, 0, id))
		must(t, h.o.PutService(ServiceKey{VIP: vip, Port: s.port, Proto: s.pr}, ServiceEntry{ID: s.svc, Count: 1, Gen: 1}))
		must(t, h.o.DeleteSlot(s.svc, 0, 0))
		must(t, h.o.DeleteBackend(s.old))
	}
	// The UDP flow moves at once; its old reply entry is gone.
	expectTuple(t, h.send(u, actOK), client, 44000, be2, 8080)
	if _, ok, _ := h.o.LookupCT(CTKey{Src: be1, Dst: client, SrcPort: 8080, DstPort: 44000, Proto: ProtoUDP, Reply: true}); ok {
		t.Fatal("stale reply entry for the removed backend remains")
	}
	r := pkt{src: be2, dst: client, sport: 8080, dport: 44000, proto: ProtoUDP}
	expectTuple(t, h.send(r, actOK), vip, 53, client, 44000)
	// The established TCP connection drains on its backend; a new
	// connection (SYN) on the same tuple goes to a live one.
	tc.tcpFlags = fACK
	expectTuple(t, h.send(tc, actOK), client, 44001, be1, 8080)
	tc.tcpFlags = fSYN
	expectTuple(t, h.send(tc, actOK), client, 44001, be2, 8080)
	if s := h.stats(); s["reselected_dead_backend"] != 2 {
		t.Fatalf("stats %v", s)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPrivilegedConntrackGC(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.service(vip, 80, ProtoTCP, ServiceEntry{}, be1)
	for _, sp := range []uint16{1, 2} {
		h.send(pkt{src: client, dst: vip, sport: sp, dport: 80, proto: ProtoTCP, tcpFlags: fSYN}, actOK)
	}
	// Age flow 1 in both directions; flow 2 stays fresh.
	recs, err := h.o.ListCT()
	must(t, err)
	if len(recs) != 4 {
		t.Fatalf("%d conntrack entries, want 4", len(recs))
	}
	for _, r := range recs {
		if (!r.Key.Reply && r.Key.SrcPort == 1) || (r.Key.Reply && r.Key.DstPort == 1) {
			r.Entry.Expires = Monotonic() - time.Second
			must(t, h.o.PutCT(r.Key, r.Entry))
		}
	}
	n, err := h.o.GCConntrack(Monotonic())
	must(t, err)
	if n != 2 {
		t.Fatalf("GC removed %d entries, want 2", n)
	}
	if _, ok, _ := h.o.LookupCT(CTKey{Src: client, Dst: vip, SrcPort: 2, DstPort: 80, Proto: ProtoTCP}); !ok {
		t.Fatal("GC removed a live flow")
	}
}
