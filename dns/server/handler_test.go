package server

import (
	"context"
	"log/slog"
	"testing"

	"github.com/miekg/dns"
)

// TestProtocolEdges covers how odd queries are answered, following CoreDNS
// (which runs miekg/dns with its default accept function in front).
func TestProtocolEdges(t *testing.T) {
	s := start(t, "")
	ctx := context.Background()

	t.Run("no question is FORMERR", func(t *testing.T) {
		m := new(dns.Msg)
		m.Id = 7
		r := s.Handle(ctx, m, "udp")
		if r.Rcode != dns.RcodeFormatError || r.Id != 7 {
			t.Fatalf("got %s id %d", dns.RcodeToString[r.Rcode], r.Id)
		}
	})
	t.Run("two questions is FORMERR", func(t *testing.T) {
		m := query("web.default.svc.cluster.local.", dns.TypeA)
		m.Question = append(m.Question, m.Question[0])
		if r := s.Handle(ctx, m, "udp"); r.Rcode != dns.RcodeFormatError {
			t.Fatalf("got %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("non-query opcode is NOTIMP", func(t *testing.T) {
		m := query("web.default.svc.cluster.local.", dns.TypeA)
		m.Opcode = dns.OpcodeUpdate
		if r := s.Handle(ctx, m, "udp"); r.Rcode != dns.RcodeNotImplemented {
			t.Fatalf("got %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("responses are not answered", func(t *testing.T) {
		m := query("web.default.svc.cluster.local.", dns.TypeA)
		m.Response = true
		if r := s.Handle(ctx, m, "udp"); r != nil {
			t.Fatalf("answered a response: %v", r)
		}
	})
	t.Run("non-IN class is REFUSED", func(t *testing.T) {
		for _, c := range []uint16{dns.ClassCHAOS, dns.ClassHESIOD, dns.ClassANY} {
			m := query("version.bind.", dns.TypeTXT)
			m.Question[0].Qclass = c
			if r := s.Handle(ctx, m, "udp"); r.Rcode != dns.RcodeRefused {
				t.Fatalf("class %d: got %s", c, dns.RcodeToString[r.Rcode])
			}
		}
	})
	t.Run("zone transfer is REFUSED", func(t *testing.T) {
		if r := s.Handle(ctx, query("cluster.local.", dns.TypeAXFR), "tcp"); r.Rcode != dns.RcodeRefused {
			t.Fatalf("got %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("ANY in zone is NODATA or NXDOMAIN", func(t *testing.T) {
		r := s.Handle(ctx, query("web.default.svc.cluster.local.", dns.TypeANY), "udp")
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || !r.Authoritative {
			t.Fatalf("existing name: %v", r)
		}
		r = s.Handle(ctx, query("nope.default.svc.cluster.local.", dns.TypeANY), "udp")
		if r.Rcode != dns.RcodeNameError {
			t.Fatalf("missing name: %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("EDNS version 1 is BADVERS", func(t *testing.T) {
		m := query("web.default.svc.cluster.local.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r := s.Handle(ctx, m, "udp")
		if r.Rcode != dns.RcodeBadVers || r.IsEdns0() == nil {
			t.Fatalf("got rcode %d opt %v", r.Rcode, r.IsEdns0())
		}
		if _, err := r.Pack(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cluster answer flags", func(t *testing.T) {
		r := s.Handle(ctx, query("web.default.svc.cluster.local.", dns.TypeA), "udp")
		if !r.Authoritative || !r.RecursionAvailable || !r.Response || len(r.Answer) != 1 {
			t.Fatalf("got %v", r)
		}
	})
	t.Run("in-zone miss never goes upstream", func(t *testing.T) {
		// The upstream is unreachable: a forwarded query would SERVFAIL.
		r := s.Handle(ctx, query("missing.cluster.local.", dns.TypeA), "udp")
		if r.Rcode != dns.RcodeNameError || !r.Authoritative {
			t.Fatalf("got %s", dns.RcodeToString[r.Rcode])
		}
	})
	t.Run("upstream down and nothing cached is SERVFAIL", func(t *testing.T) {
		r := s.Handle(ctx, query("example.org.", dns.TypeA), "udp")
		if r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("got %s", dns.RcodeToString[r.Rcode])
		}
	})
}

func TestTruncation(t *testing.T) {
	s := start(t, "")
	ctx := context.Background()
	name := "hl.default.svc.cluster.local."

	r := s.Handle(ctx, query(name, dns.TypeA), "udp")
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 100 {
		t.Fatalf("plain UDP: TC=%v with %d answers, want TC and a partial answer", r.Truncated, len(r.Answer))
	}
	if b, _ := r.Pack(); len(b) > 512 {
		t.Fatalf("plain UDP reply is %d bytes, over 512", len(b))
	}

	m := query(name, dns.TypeA)
	m.SetEdns0(4096, false)
	r = s.Handle(ctx, m, "udp")
	if r.Truncated || len(r.Answer) != 100 || r.IsEdns0() == nil {
		t.Fatalf("EDNS 4096: TC=%v answers=%d opt=%v, want all 100 without TC", r.Truncated, len(r.Answer), r.IsEdns0())
	}

	r = s.Handle(ctx, query(name, dns.TypeA), "tcp")
	if r.Truncated || len(r.Answer) != 100 {
		t.Fatalf("TCP: TC=%v answers=%d", r.Truncated, len(r.Answer))
	}
}

// TestPanicIsServfail proves a panic while answering becomes SERVFAIL.
func TestPanicIsServfail(t *testing.T) {
	s, err := New(Config{Upstreams: []string{"127.0.0.1:1"}, Logger: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.index = nil // not serving yet; Resolve on a nil index panics
	r := s.Handle(context.Background(), query("web.default.svc.cluster.local.", dns.TypeA), "udp")
	if r == nil || r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("got %v", r)
	}
}
