package server

import (
	"context"
	"testing"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

func packed(t testing.TB, m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzHandler feeds arbitrary packets through unpacking and the handler,
// the way the server sees them. The handler must not panic (a recovered
// panic counts as a failure here) and must produce a packable reply with
// the query's ID that fits the transport. `go test` runs the seeds; run
// `go test -fuzz FuzzHandler ./dns/server` to explore.
func FuzzHandler(f *testing.F) {
	seeds := []*dns.Msg{
		query("web.default.svc.cluster.local.", dns.TypeA),
		query("WEB.default.svc.cluster.local.", dns.TypeAAAA),
		query("_http._tcp.hl.default.svc.cluster.local.", dns.TypeSRV),
		query("hl.default.svc.cluster.local.", dns.TypeA),
		query("20.0.96.10.in-addr.arpa.", dns.TypePTR),
		query("ext.default.svc.cluster.local.", dns.TypeCNAME),
		query("10-1-2-3.ns.pod.cluster.local.", dns.TypeA),
		query("fd00--1.ns.pod.cluster.local.", dns.TypeAAAA),
		query("dns-version.cluster.local.", dns.TypeTXT),
		query("cluster.local.", dns.TypeSOA),
		query("cluster.local.", dns.TypeANY),
		query("cluster.local.", dns.TypeAXFR),
		query(".", dns.TypeNS),
	}
	e := query("hl.default.svc.cluster.local.", dns.TypeA)
	e.SetEdns0(700, true)
	seeds = append(seeds, e)
	v := query("web.default.svc.cluster.local.", dns.TypeA)
	v.SetEdns0(1232, false)
	v.IsEdns0().SetVersion(3)
	seeds = append(seeds, v)
	ch := query("version.bind.", dns.TypeTXT)
	ch.Question[0].Qclass = dns.ClassCHAOS
	seeds = append(seeds, ch)
	up := query("web.default.svc.cluster.local.", dns.TypeA)
	up.Opcode = dns.OpcodeUpdate
	seeds = append(seeds, up)
	for _, m := range seeds {
		f.Add(packed(f, m), false)
		f.Add(packed(f, m), true)
	}
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{}, false)

	// A local upstream that answers NXDOMAIN at once keeps forwarded
	// inputs fast (an unreachable one would wait for timeouts).
	fake := startUpstream(f, nil)
	s := start(f, "", fake.addr)
	f.Fuzz(func(t *testing.T, pkt []byte, tcp bool) {
		req := new(dns.Msg)
		if err := req.Unpack(pkt); err != nil {
			return // the dns.Server answers FORMERR or drops before the handler
		}
		proto := "udp"
		if tcp {
			proto = "tcp"
		}
		before := testPanics(s)
		resp := s.Handle(context.Background(), req, proto)
		if testPanics(s) != before {
			t.Fatalf("handler panicked on % x", pkt)
		}
		if resp == nil {
			if !req.Response {
				t.Fatalf("no reply to a query: % x", pkt)
			}
			return
		}
		out, err := resp.Pack()
		if err != nil {
			t.Fatalf("reply does not pack: %v\n%v", err, resp)
		}
		if resp.Id != req.Id {
			t.Fatalf("reply id %d, query id %d", resp.Id, req.Id)
		}
		limit := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			limit = min(max(int(o.UDPSize()), dns.MinMsgSize), maxUDPReply)
		}
		if !tcp && len(out) > limit {
			t.Fatalf("UDP reply of %d bytes over the %d limit", len(out), limit)
		}
	})
}

func testPanics(s *Server) float64 {
	var m dto.Metric
	_ = s.metrics.panics.Write(&m)
	return m.GetCounter().GetValue()
}
