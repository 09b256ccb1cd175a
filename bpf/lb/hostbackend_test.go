package lb

import (
	"net/netip"
	"testing"
)

// A backend on the node itself (host network, e.g. the API server behind
// the kubernetes Service) answers from the host stack: its reply never
// passes an ingress hook and must be reverse-translated on the client's
// veth egress.
func TestPrivilegedHostBackendReplyOnEgress(t *testing.T) {
	h := newHarness(t, Sizes{})
	node := netip.MustParseAddr("192.0.2.10")
	h.service(vip, 443, ProtoTCP, ServiceEntry{}, node)
	h.service(vip, 53, ProtoUDP, ServiceEntry{}, node)

	syn := pkt{src: client, dst: vip, sport: 40000, dport: 443, proto: ProtoTCP, tcpFlags: fSYN, seq: 1}
	got := h.send(syn, actOK)
	expectTuple(t, got, client, 40000, node, 8080)

	synack := pkt{src: node, dst: client, sport: 8080, dport: 40000, proto: ProtoTCP, tcpFlags: fSYN | fACK, seq: 7, ack: 2}
	g, err := parse(h.egress(synack.bytes(), actOK))
	if err != nil {
		t.Fatalf("egress output: %v", err)
	}
	expectTuple(t, g, vip, 443, client, 40000)

	q := pkt{src: client, dst: vip, sport: 41000, dport: 53, proto: ProtoUDP, payload: []byte("query")}
	expectTuple(t, h.send(q, actOK), client, 41000, node, 8080)
	a := pkt{src: node, dst: client, sport: 8080, dport: 41000, proto: ProtoUDP, payload: []byte("answer")}
	g, err = parse(h.egress(a.bytes(), actOK))
	if err != nil {
		t.Fatalf("egress output: %v", err)
	}
	expectTuple(t, g, vip, 53, client, 41000)

	// Traffic of no translated flow passes egress untouched.
	other := pkt{src: node, dst: client, sport: 8080, dport: 49999, proto: ProtoTCP, tcpFlags: fACK}
	h.egress(other.bytes(), actUnspec)
	if s := h.stats(); s["reply"] != 2 {
		t.Fatalf("stats %v, want 2 replies translated on egress", s)
	}
}
