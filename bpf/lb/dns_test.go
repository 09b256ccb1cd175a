package lb

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

var localDNS = netip.MustParseAddr("169.254.20.10")

// steer writes the DNS steering entry with a heartbeat age before now.
func (h *harness) steer(age time.Duration, maxAge time.Duration) {
	h.t.Helper()
	hb := Monotonic() - age
	must(h.t, h.o.SetDNSSteering(DNSSteering{ClusterIP: vip, LocalIP: localDNS, Heartbeat: hb, MaxAge: maxAge}))
}

// egress runs the egress program on p and expects verdict want.
func (h *harness) egress(in []byte, want uint32) []byte {
	h.t.Helper()
	out := make([]byte, len(in)+256)
	opts := &ebpf.RunOptions{Data: in, DataOut: out}
	ret, err := h.o.Egress.Run(opts)
	if err != nil {
		h.t.Fatalf("BPF_PROG_TEST_RUN egress: %v", err)
	}
	if ret != want {
		h.t.Fatalf("egress verdict %d, want %d (stats %v)", int32(ret), int32(want), h.stats())
	}
	return opts.DataOut
}

func (h *harness) noCT() {
	h.t.Helper()
	recs, err := h.o.ListCT()
	must(h.t, err)
	if len(recs) != 0 {
		h.t.Fatalf("steering created %d conntrack entries: %+v", len(recs), recs)
	}
}

func parseOK(t *testing.T, b []byte) *parsed {
	t.Helper()
	p, err := parse(b)
	if err != nil {
		t.Fatalf("output packet: %v", err)
	}
	return p
}

func TestPrivilegedDNSSteering(t *testing.T) {
	h := newHarness(t, Sizes{})
	// The kube-dns Service exists too: steering takes precedence over it.
	h.service(vip, 53, ProtoUDP, ServiceEntry{}, be1)
	h.service(vip, 53, ProtoTCP, ServiceEntry{}, be1)
	h.steer(0, 0)

	// UDP: A and AAAA from one socket, back to back, are both rewritten
	// and nothing is tracked.
	for _, q := range []string{"A web.default", "AAAA web.default"} {
		p := pkt{src: client, dst: vip, sport: 5353, dport: 53, proto: ProtoUDP, payload: []byte(q)}
		expectTuple(t, h.send(p, actOK), client, 5353, localDNS, 53)
	}
	// TCP: SYN, data and FIN of a new connection.
	for _, f := range []uint8{fSYN, fACK, fACK | 0x08, fFIN | fACK} {
		p := pkt{src: client, dst: vip, sport: 40053, dport: 53, proto: ProtoTCP, tcpFlags: f, payload: []byte("q")}
		g := h.send(p, actOK)
		expectTuple(t, g, client, 40053, localDNS, 53)
		if g.tcpFlags != f {
			t.Fatalf("flags changed %#x -> %#x", f, g.tcpFlags)
		}
	}
	h.noCT()

	// A UDP query without checksum keeps "no checksum".
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
	expectTuple(t, parseOK(t, opts.DataOut), client, 6000, localDNS, 53)

	// Replies leave by egress with the cluster DNS IP as their source.
	r := pkt{src: localDNS, dst: client, sport: 53, dport: 5353, proto: ProtoUDP, payload: []byte("answer")}
	expectTuple(t, parseOK(t, h.egress(r.bytes(), actOK)), vip, 53, client, 5353)
	for _, f := range []uint8{fSYN | fACK, fACK | 0x08, fRST} {
		r := pkt{src: localDNS, dst: client, sport: 53, dport: 40053, proto: ProtoTCP, tcpFlags: f, payload: []byte("a")}
		g := parseOK(t, h.egress(r.bytes(), actOK))
		expectTuple(t, g, vip, 53, client, 40053)
		if g.tcpFlags != f {
			t.Fatalf("reply flags changed %#x -> %#x", f, g.tcpFlags)
		}
	}
	h.noCT()
	s := h.stats()
	if s["dns_steered"] != 7 || s["dns_reply_rewritten"] != 4 || s["new_flow"] != 0 || s["dns_fallback_stale"] != 0 {
		t.Fatalf("stats %v", s)
	}
}

func TestPrivilegedDNSLeavesOtherTraffic(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.steer(0, 0)
	other := netip.MustParseAddr("10.96.0.11")
	for _, p := range []pkt{
		{src: client, dst: vip, sport: 1, dport: 9153, proto: ProtoTCP, tcpFlags: fSYN}, // metrics port of kube-dns
		{src: client, dst: vip, sport: 1, dport: 54, proto: ProtoUDP},
		{src: client, dst: other, sport: 1, dport: 53, proto: ProtoUDP},
		{src: client, dst: localDNS, sport: 1, dport: 53, proto: ProtoUDP}, // already local: not ours
	} {
		in := p.bytes()
		out := make([]byte, len(in)+64)
		opts := &ebpf.RunOptions{Data: in, DataOut: out}
		if ret, err := h.o.Program.Run(opts); err != nil || ret != actUnspec {
			t.Fatalf("%+v: verdict %d err %v, want pass", p, int32(ret), err)
		}
		if !bytes.Equal(opts.DataOut, in) {
			t.Fatalf("%+v: packet changed", p)
		}
	}
	// Egress: only (local address, port 53) is rewritten.
	for _, p := range []pkt{
		{src: localDNS, dst: client, sport: 5353, dport: 53, proto: ProtoUDP},
		{src: other, dst: client, sport: 53, dport: 5353, proto: ProtoUDP},
		{src: vip, dst: client, sport: 53, dport: 5353, proto: ProtoTCP, tcpFlags: fACK},
	} {
		in := p.bytes()
		if out := h.egress(in, actUnspec); !bytes.Equal(out, in) {
			t.Fatalf("egress %+v: packet changed", p)
		}
	}
	// With steering unset, nothing is rewritten at all.
	must(t, h.o.SetDNSSteering(DNSSteering{}))
	q := pkt{src: client, dst: vip, sport: 7, dport: 53, proto: ProtoUDP}
	expectTuple(t, h.send(q, actUnspec), client, 7, vip, 53)
	r := pkt{src: localDNS, dst: client, sport: 53, dport: 7, proto: ProtoUDP}
	if out := h.egress(r.bytes(), actUnspec); !bytes.Equal(out, r.bytes()) {
		t.Fatal("egress rewrote a reply with steering unset")
	}
	if s := h.stats(); s["dns_steered"] != 0 || s["dns_reply_rewritten"] != 0 {
		t.Fatalf("stats %v", s)
	}
}

func TestPrivilegedDNSStaleHeartbeatUsesService(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.service(vip, 53, ProtoUDP, ServiceEntry{}, be1)
	h.service(vip, 53, ProtoTCP, ServiceEntry{}, be1)

	q := func(sport uint16) pkt {
		return pkt{src: client, dst: vip, sport: sport, dport: 53, proto: ProtoUDP, payload: []byte("q")}
	}
	// Stale (4 s > 3 s default), stopped (0), older than a custom max age,
	// from the future: all take the Service path, DNAT with conntrack.
	sport := uint16(10000)
	for _, c := range []struct {
		name      string
		hb, max   time.Duration
		stopped   bool
		futureHB  bool
		wantSteer bool
	}{
		{name: "stale", hb: 4 * time.Second},
		{name: "stopped", stopped: true},
		{name: "custom max age", hb: 2 * time.Second, max: time.Second},
		{name: "future", futureHB: true},
		{name: "fresh default", hb: 2 * time.Second, wantSteer: true},
		{name: "fresh custom", hb: 2 * time.Second, max: 10 * time.Second, wantSteer: true},
	} {
		st := DNSSteering{ClusterIP: vip, LocalIP: localDNS, Heartbeat: Monotonic() - c.hb, MaxAge: c.max}
		if c.stopped {
			st.Heartbeat = 0
		}
		if c.futureHB {
			st.Heartbeat = Monotonic() + time.Hour
		}
		must(t, h.o.SetDNSSteering(st))
		sport++
		g := h.send(q(sport), actOK)
		if c.wantSteer {
			expectTuple(t, g, client, sport, localDNS, 53)
			if _, ok, _ := h.o.LookupCT(CTKey{Src: client, Dst: vip, SrcPort: sport, DstPort: 53, Proto: ProtoUDP}); ok {
				t.Fatalf("%s: steered query left a conntrack entry", c.name)
			}
			continue
		}
		expectTuple(t, g, client, sport, be1, 8080)
		if _, ok, _ := h.o.LookupCT(CTKey{Src: client, Dst: vip, SrcPort: sport, DstPort: 53, Proto: ProtoUDP}); !ok {
			t.Fatalf("%s: service path without conntrack entry", c.name)
		}
		// The backend's reply is reverse-translated by the Service path.
		r := pkt{src: be1, dst: client, sport: 8080, dport: sport, proto: ProtoUDP}
		expectTuple(t, h.send(r, actOK), vip, 53, client, sport)
	}
	if s := h.stats(); s["dns_fallback_stale"] != 4 || s["dns_steered"] != 2 || s["new_flow"] != 4 {
		t.Fatalf("stats %v", s)
	}

	// Heartbeat back: a UDP socket that was on the Service path is steered
	// again at once (UDP stays stateless), despite its conntrack entry.
	h.steer(4*time.Second, 0)
	stale := q(20000)
	expectTuple(t, h.send(stale, actOK), client, 20000, be1, 8080)
	h.steer(0, 0)
	expectTuple(t, h.send(stale, actOK), client, 20000, localDNS, 53)

	// A TCP connection opened on the Service path keeps its backend when
	// the heartbeat returns; a new connection is steered.
	h.steer(4*time.Second, 0)
	syn := pkt{src: client, dst: vip, sport: 30000, dport: 53, proto: ProtoTCP, tcpFlags: fSYN}
	expectTuple(t, h.send(syn, actOK), client, 30000, be1, 8080)
	h.steer(0, 0)
	ack := syn
	ack.tcpFlags, ack.payload = fACK, []byte("query")
	expectTuple(t, h.send(ack, actOK), client, 30000, be1, 8080)
	syn2 := syn
	syn2.sport = 30001
	expectTuple(t, h.send(syn2, actOK), client, 30001, localDNS, 53)
	if s := h.stats(); s["dns_tcp_kept_on_service"] != 1 {
		t.Fatalf("stats %v", s)
	}
	// Without a kube-dns Service a stale query passes unchanged (routed
	// as it is): nothing to balance to.
	must(t, h.o.DeleteService(ServiceKey{VIP: vip, Port: 53, Proto: ProtoUDP}))
	h.steer(4*time.Second, 0)
	expectTuple(t, h.send(q(40000), actUnspec), client, 40000, vip, 53)
}

// fragment returns the IPv4 fragment of datagram p (Ethernet framed) holding
// L4 bytes [off, off+n): the L4 checksum stays the one of the whole datagram.
func fragment(p pkt, off, n int, more bool) []byte {
	l4 := p.l4()
	end := min(off+n, len(l4))
	ip := ipHeader(p.src, p.dst, p.proto, end-off)
	fo := uint16(off / 8)
	if more {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(ip[6:], fo)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], csum(ip, 0))
	return ether(append(ip, l4[off:end]...))
}

// checkFragment verifies the IP header checksum and addresses of a fragment.
func checkFragment(t *testing.T, b []byte, src, dst netip.Addr) {
	t.Helper()
	ip := b[14:]
	if csum(ip[:20], 0) != 0 {
		t.Fatalf("bad IP checksum in fragment % x", ip[:20])
	}
	if addr(ip[12:]) != src || addr(ip[16:]) != dst {
		t.Fatalf("fragment %s -> %s, want %s -> %s", addr(ip[12:]), addr(ip[16:]), src, dst)
	}
}

func TestPrivilegedDNSFragments(t *testing.T) {
	h := newHarness(t, Sizes{})
	h.steer(0, 0)
	big := bytes.Repeat([]byte("0123456789abcdef"), 100) // 1600 bytes
	// A fragmented query: both fragments go to the local server, and the
	// first carries the UDP checksum right for the rewritten datagram.
	q := pkt{src: client, dst: vip, sport: 5353, dport: 53, proto: ProtoUDP, payload: big}
	first := h.egressOrIngress(t, true, fragment(q, 0, 1480, true))
	checkFragment(t, first, client, localDNS)
	rewritten := q
	rewritten.dst = localDNS
	want := rewritten.l4()[6:8]
	if got := first[14+20+6 : 14+20+8]; !bytes.Equal(got, want) {
		t.Fatalf("first fragment UDP checksum % x, want % x", got, want)
	}
	checkFragment(t, h.egressOrIngress(t, true, fragment(q, 1480, 1480, false)), client, localDNS)

	// A large answer fragmented by the node: every fragment gets the
	// cluster IP as source.
	r := pkt{src: localDNS, dst: client, sport: 53, dport: 5353, proto: ProtoUDP, payload: big}
	first = h.egressOrIngress(t, false, fragment(r, 0, 1480, true))
	checkFragment(t, first, vip, client)
	back := r
	back.src = vip
	if got, want := first[14+20+6:14+20+8], back.l4()[6:8]; !bytes.Equal(got, want) {
		t.Fatalf("first reply fragment UDP checksum % x, want % x", got, want)
	}
	checkFragment(t, h.egressOrIngress(t, false, fragment(r, 1480, 1480, false)), vip, client)
	h.noCT()
	if s := h.stats(); s["dns_steered"] != 2 || s["dns_reply_rewritten"] != 2 {
		t.Fatalf("stats %v", s)
	}
}

// egressOrIngress runs ingress (true) or egress on raw and expects TC_ACT_OK.
func (h *harness) egressOrIngress(t *testing.T, ingress bool, raw []byte) []byte {
	t.Helper()
	if !ingress {
		return h.egress(raw, actOK)
	}
	out := make([]byte, len(raw)+64)
	opts := &ebpf.RunOptions{Data: raw, DataOut: out}
	if ret, err := h.o.Program.Run(opts); err != nil || ret != actOK {
		t.Fatalf("ingress verdict %d err %v (stats %v)", int32(ret), err, h.stats())
	}
	return opts.DataOut
}

func TestDNSSteeringFresh(t *testing.T) {
	now := 100 * time.Second
	s := DNSSteering{ClusterIP: vip, LocalIP: localDNS, Heartbeat: now - 2*time.Second}
	if !s.Fresh(now) {
		t.Fatal("2 s old heartbeat not fresh with the 3 s default")
	}
	s.MaxAge = time.Second
	if s.Fresh(now) {
		t.Fatal("2 s old heartbeat fresh with a 1 s max age")
	}
	s.MaxAge, s.Heartbeat = 0, 0
	if s.Fresh(now) {
		t.Fatal("stopped heartbeat fresh")
	}
	s.Heartbeat = now + time.Second
	if s.Fresh(now) {
		t.Fatal("future heartbeat fresh")
	}
	if (DNSSteering{Heartbeat: now}).Fresh(now) {
		t.Fatal("steering without addresses fresh")
	}
}

func TestPrivilegedDNSSteeringMapAPI(t *testing.T) {
	h := newHarness(t, Sizes{})
	if st, err := h.o.ReadDNSSteering(); err != nil || st.ClusterIP.IsValid() || st.Heartbeat != 0 {
		t.Fatalf("fresh map: %+v %v, want unset", st, err)
	}
	want := DNSSteering{ClusterIP: vip, LocalIP: localDNS, Heartbeat: Monotonic(), MaxAge: 5 * time.Second}
	must(t, h.o.SetDNSSteering(want))
	if got, err := h.o.ReadDNSSteering(); err != nil || got != want {
		t.Fatalf("read back %+v %v, want %+v", got, err, want)
	}
	for _, bad := range []DNSSteering{
		{ClusterIP: netip.MustParseAddr("fd00::a"), LocalIP: localDNS},
		{ClusterIP: vip},
		{ClusterIP: vip, LocalIP: localDNS, Heartbeat: -1},
	} {
		if err := h.o.SetDNSSteering(bad); err == nil {
			t.Fatalf("SetDNSSteering(%+v) accepted", bad)
		}
	}
	if got, _ := h.o.ReadDNSSteering(); got != want {
		t.Fatalf("a rejected write changed the entry to %+v", got)
	}
}
