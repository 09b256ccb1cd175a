package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/miekg/dns"
)

// advertisedUDPSize is the EDNS0 buffer size this server announces for
// what it receives (the DNS flag day 2020 value).
const advertisedUDPSize = 1232

// maxUDPReply caps the client's EDNS0 buffer size when sizing UDP replies.
const maxUDPReply = 4096

// ServeDNS implements dns.Handler: it answers one query, never panicking.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	resp := s.Handle(context.Background(), req, proto)
	if resp == nil {
		return
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("dns: write reply failed", "remote", w.RemoteAddr().String(), "err", err)
	}
}

// Handle answers req as received over proto ("udp" or "tcp") and returns the
// reply, already sized for the transport (TC set when it had to be cut).
// A panic while answering is recovered and answered with SERVFAIL.
func (s *Server) Handle(ctx context.Context, req *dns.Msg, proto string) (resp *dns.Msg) {
	start := time.Now()
	source := "error"
	defer func() {
		if p := recover(); p != nil {
			s.metrics.panics.Inc()
			s.log.Error("dns: panic while answering; replied SERVFAIL (please report this with the query)",
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp = new(dns.Msg)
			resp.Response = true
			resp.Rcode = dns.RcodeServerFailure
			if req != nil {
				resp.Id = req.Id
				resp.Opcode = req.Opcode
				if len(req.Question) == 1 {
					resp.Question = req.Question
				}
			}
			source = "error"
		}
		if resp != nil {
			s.metrics.rcode(resp.Rcode)
		}
		s.metrics.observe(source, time.Since(start).Seconds())
	}()
	if req == nil || req.Response {
		return nil // never answer responses
	}
	var qtype uint16
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	s.metrics.query(proto, qtype)

	resp = new(dns.Msg)
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	resp.RecursionDesired = req.RecursionDesired
	resp.RecursionAvailable = true
	resp.CheckingDisabled = req.CheckingDisabled
	resp.Question = req.Question

	opt := req.IsEdns0()
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		// miekg's accept func already answers these with FORMERR before
		// the handler; this covers direct callers.
		resp.Rcode = dns.RcodeFormatError
	case opt != nil && opt.Version() != 0:
		// RFC 6891: unknown EDNS version gets BADVERS with an OPT record.
		resp.Rcode = dns.RcodeBadVers
	case req.Question[0].Qclass != dns.ClassINET:
		// Only class IN is served (the CHAOS/HESIOD classes are not).
		resp.Rcode = dns.RcodeRefused
	case qtype == dns.TypeAXFR || qtype == dns.TypeIXFR:
		resp.Rcode = dns.RcodeRefused // no zone transfers
	default:
		source = s.answer(ctx, req, resp)
	}
	s.finish(req, resp, opt, proto)
	return resp
}

// answer fills resp for a well-formed IN question and says where the
// answer came from.
func (s *Server) answer(ctx context.Context, req, resp *dns.Msg) string {
	q := req.Question[0]
	lookupType := q.Qtype
	if lookupType == dns.TypeANY {
		// CoreDNS's kubernetes plugin does not enumerate for ANY: it
		// looks the name up as A to tell NODATA from NXDOMAIN.
		lookupType = dns.TypeA
	}
	r := s.index.Resolve(q.Name, lookupType)
	if r.Authoritative {
		resp.Authoritative = true
		resp.Rcode = r.Rcode
		if q.Qtype != dns.TypeANY {
			resp.Answer = r.Answer
			resp.Extra = r.Extra
		}
		resp.Ns = r.Ns
		if q.Qtype == dns.TypeANY && r.Rcode == dns.RcodeSuccess {
			resp.Ns = []dns.RR{s.index.SOA()}
		}
		if r.Chase != "" && q.Qtype != dns.TypeANY {
			s.chase(ctx, resp, r.Chase, q.Qtype)
		}
		return "cluster"
	}
	m, source := s.forward(ctx, q)
	resp.Rcode = m.Rcode
	resp.AuthenticatedData = m.AuthenticatedData
	resp.Answer, resp.Ns, resp.Extra = m.Answer, m.Ns, m.Extra
	return source
}

// chase resolves an ExternalName target outside the zone and appends its
// answers after the CNAME, so stub resolvers get addresses in one reply.
func (s *Server) chase(ctx context.Context, resp *dns.Msg, target string, qtype uint16) {
	m, _ := s.forward(ctx, dns.Question{Name: target, Qtype: qtype, Qclass: dns.ClassINET})
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return // keep the CNAME; the client can follow it itself
	}
	resp.Rcode = m.Rcode
	resp.Authoritative = false
	resp.Answer = append(resp.Answer, m.Answer...)
	if len(m.Answer) == 0 {
		resp.Ns = m.Ns
	} else {
		resp.Ns = nil
	}
}

// forward answers from the cache, else from upstream, else from stale cache
// entries; failing all that, SERVFAIL.
func (s *Server) forward(ctx context.Context, q dns.Question) (*dns.Msg, string) {
	if m, ok := s.cache.Get(q); ok {
		s.metrics.cacheResult("hit")
		return m, "cache"
	}
	s.metrics.cacheResult("miss")
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ForwardTimeout)
	defer cancel()
	m, err := s.fwd.Exchange(ctx, q)
	if err == nil && (m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError) {
		s.cache.Put(m)
		out := new(dns.Msg)
		out.Rcode = m.Rcode
		out.AuthenticatedData = m.AuthenticatedData
		out.Answer, out.Ns = m.Answer, m.Ns
		for _, rr := range m.Extra {
			if rr.Header().Rrtype != dns.TypeOPT {
				out.Extra = append(out.Extra, rr)
			}
		}
		return out, "forward"
	}
	if st, ok := s.cache.GetStale(q); ok {
		s.metrics.cacheResult("stale")
		return st, "stale"
	}
	if err != nil {
		s.log.Warn("dns: forwarding failed; answering SERVFAIL (check the upstream resolvers)",
			"name", q.Name, "type", dns.TypeToString[q.Qtype], "err", err)
		out := new(dns.Msg)
		out.Rcode = dns.RcodeServerFailure
		return out, "error"
	}
	out := new(dns.Msg)
	out.Rcode = m.Rcode
	out.Answer, out.Ns = m.Answer, m.Ns
	return out, "forward"
}

// finish adds EDNS0 and trims the reply to what the transport allows.
func (s *Server) finish(req, resp *dns.Msg, opt *dns.OPT, proto string) {
	size := dns.MinMsgSize
	if opt != nil {
		resp.SetEdns0(advertisedUDPSize, false)
		if opt.Do() {
			resp.IsEdns0().SetDo()
		}
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		size = min(size, maxUDPReply)
	}
	if proto == "tcp" {
		size = dns.MaxMsgSize
	}
	resp.Compress = true
	resp.Truncate(size)
}

var _ dns.Handler = (*Server)(nil)

// logger returns l or the default logger.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
