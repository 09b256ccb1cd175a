package records

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// DNSVersion is the version of the Kubernetes DNS specification served in
// the dns-version TXT record.
const DNSVersion = "1.1.0"

// maxChase bounds CNAME chains followed inside the zone.
const maxChase = 8

// Result is the index's answer to one question.
type Result struct {
	// Authoritative is true when the index owns the name: it lies in the
	// cluster zone, or it is a reverse name of a known cluster IP. When false
	// the caller forwards the question.
	Authoritative bool
	Rcode         int
	Answer        []dns.RR
	Ns            []dns.RR
	Extra         []dns.RR
	// Chase names an ExternalName target outside the zone; the caller
	// resolves it for the same type and appends the answers.
	Chase string
}

// Resolve answers qtype for name. Name matching is case-insensitive; owner
// names in the answer repeat name as asked.
func (ix *Index) Resolve(name string, qtype uint16) Result {
	lname := strings.ToLower(dns.Fqdn(name))
	if qtype == dns.TypePTR || strings.HasSuffix(lname, ".arpa.") {
		if r, ok := ix.reverse(name, lname, qtype); ok {
			return r
		}
	}
	if !ix.inZone(lname) {
		return Result{}
	}
	if !ix.synced.Load() {
		return Result{Authoritative: true, Rcode: dns.RcodeServerFailure, Ns: []dns.RR{ix.soa()}}
	}
	var r Result
	r.Authoritative = true
	owner := name
	for range maxChase {
		target := ix.lookup(&r, owner, lname, qtype)
		if target == "" {
			break
		}
		if !ix.inZone(target) {
			if qtype != dns.TypeCNAME {
				r.Chase = target
			}
			break
		}
		if qtype == dns.TypeCNAME {
			break
		}
		owner, lname = target, target
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		r.Ns = append(r.Ns, ix.soa())
	}
	return r
}

// lookup resolves one name in the zone, appending to r. It returns a
// CNAME target to follow, if any.
func (ix *Index) lookup(r *Result, owner, lname string, qtype uint16) string {
	rel := strings.TrimSuffix(strings.TrimSuffix(lname, ix.zone), ".")
	var labels []string
	if rel != "" {
		labels = strings.Split(rel, ".")
	}
	n := len(labels)
	switch {
	case n == 0:
		if qtype == dns.TypeSOA {
			r.Answer = append(r.Answer, ix.soaNamed(owner))
		}
		return ""
	case n == 1 && labels[0] == "dns-version":
		if qtype == dns.TypeTXT {
			r.Answer = append(r.Answer, &dns.TXT{Hdr: ix.hdr(owner, dns.TypeTXT), Txt: []string{DNSVersion}})
		}
		return ""
	case n == 1 && (labels[0] == "svc" || labels[0] == "pod"):
		return "" // empty non-terminals: NODATA
	case labels[n-1] == "pod":
		ix.pod(r, owner, labels, qtype)
		return ""
	case labels[n-1] == "svc":
		return ix.service(r, owner, labels[:n-1], qtype)
	}
	r.Rcode = dns.RcodeNameError
	return ""
}

// pod answers <dashed-ip>.<ns>.pod.<zone> in "insecure" mode: any
// well-formed address answers with itself.
func (ix *Index) pod(r *Result, owner string, labels []string, qtype uint16) {
	switch len(labels) {
	case 2: // <ns>.pod: empty non-terminal
		return
	case 3:
		a, ok := parseDashedIP(labels[0])
		if !ok {
			break
		}
		ix.addrAnswer(r, owner, []netip.Addr{a}, qtype)
		return
	}
	r.Rcode = dns.RcodeNameError
}

// service answers names under <ns>.svc.<zone>; labels excludes "svc".
func (ix *Index) service(r *Result, owner string, labels []string, qtype uint16) string {
	n := len(labels)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if n == 1 { // <ns>.svc
		if ix.namespaces[labels[0]] == 0 {
			r.Rcode = dns.RcodeNameError
		}
		return ""
	}
	if n > 4 {
		r.Rcode = dns.RcodeNameError
		return ""
	}
	e := ix.services[key(labels[n-1], labels[n-2])]
	if e == nil || e.svc == nil {
		r.Rcode = dns.RcodeNameError
		return ""
	}
	svc := e.svc
	svcName := svc.Name + "." + svc.Namespace + ".svc." + ix.zone
	if svc.ExternalName != "" {
		if n != 2 {
			r.Rcode = dns.RcodeNameError
			return ""
		}
		target := strings.ToLower(dns.Fqdn(svc.ExternalName))
		r.Answer = append(r.Answer, &dns.CNAME{Hdr: ix.hdr(owner, dns.TypeCNAME), Target: target})
		return target
	}
	switch n {
	case 2: // <svc>.<ns>.svc
		if svc.Headless && len(e.eps) == 0 {
			// Spec and CoreDNS: a headless service without ready endpoints
			// does not exist.
			r.Rcode = dns.RcodeNameError
			return ""
		}
		switch qtype {
		case dns.TypeA, dns.TypeAAAA:
			ix.serviceAddrs(r, owner, e, qtype)
		case dns.TypeSRV:
			ix.srv(r, owner, svcName, e, "", "")
		}
	case 3: // <endpoint>.<svc>.<ns>.svc or _<proto>.<svc>.<ns>.svc
		label := labels[0]
		if strings.HasPrefix(label, "_") {
			if !ix.hasPort(e, "", label[1:]) {
				r.Rcode = dns.RcodeNameError
			}
			return "" // empty non-terminal above the SRV names
		}
		var addrs []netip.Addr
		for _, ep := range e.eps {
			if ep.label == label {
				addrs = append(addrs, ep.addr)
			}
		}
		if len(addrs) == 0 {
			r.Rcode = dns.RcodeNameError
			return ""
		}
		ix.addrAnswer(r, owner, addrs, qtype)
	case 4: // _<port>._<proto>.<svc>.<ns>.svc
		port, proto := labels[0], labels[1]
		if !strings.HasPrefix(port, "_") || !strings.HasPrefix(proto, "_") || len(port) < 2 ||
			!ix.hasPort(e, port[1:], proto[1:]) {
			r.Rcode = dns.RcodeNameError
			return ""
		}
		switch qtype {
		case dns.TypeSRV:
			ix.srv(r, owner, svcName, e, port[1:], proto[1:])
		case dns.TypeA, dns.TypeAAAA:
			// CoreDNS answers address queries on SRV names with the
			// service's addresses; so do we.
			ix.serviceAddrs(r, owner, e, qtype)
		}
	}
	return ""
}

// hasPort reports whether the service (or, for headless services, one of
// its ready endpoints) has a port with this name (any when empty) and
// protocol, compared case-insensitively.
func (ix *Index) hasPort(e *entry, name, proto string) bool {
	match := func(p Port) bool {
		return p.Name != "" && (name == "" || strings.EqualFold(p.Name, name)) && strings.EqualFold(p.Protocol, proto)
	}
	if e.svc.Headless {
		for _, ep := range e.eps {
			for _, p := range ep.ports {
				if match(p) {
					return true
				}
			}
		}
		return false
	}
	for _, p := range e.svc.Ports {
		if match(p) {
			return true
		}
	}
	return false
}

func (ix *Index) serviceAddrs(r *Result, owner string, e *entry, qtype uint16) {
	if !e.svc.Headless {
		ix.addrAnswer(r, owner, e.svc.ClusterIPs, qtype)
		return
	}
	addrs := make([]netip.Addr, 0, len(e.eps))
	for _, ep := range e.eps {
		addrs = append(addrs, ep.addr)
	}
	ix.addrAnswer(r, owner, addrs, qtype)
}

// srv appends SRV records for the named ports matching name/proto (all named
// ports when both are empty) with the target addresses as extra records.
func (ix *Index) srv(r *Result, owner, svcName string, e *entry, name, proto string) {
	match := func(p Port) bool {
		if name == "" && proto == "" {
			return p.Name != ""
		}
		return p.Name != "" && strings.EqualFold(p.Name, name) && strings.EqualFold(p.Protocol, proto)
	}
	if !e.svc.Headless {
		var added bool
		for _, p := range e.svc.Ports {
			if match(p) {
				r.Answer = append(r.Answer, ix.srvRR(owner, svcName, p.Port))
				added = true
			}
		}
		if added {
			for _, a := range e.svc.ClusterIPs {
				r.Extra = append(r.Extra, ix.addrRR(svcName, a))
			}
		}
		return
	}
	for _, ep := range e.eps {
		target := ep.label + "." + svcName
		added := false
		for _, p := range ep.ports {
			if match(p) {
				r.Answer = append(r.Answer, ix.srvRR(owner, target, p.Port))
				added = true
			}
		}
		if added {
			r.Extra = append(r.Extra, ix.addrRR(target, ep.addr))
		}
	}
	if n := len(r.Answer); n > 0 {
		w := uint16(100 / n)
		if w == 0 {
			w = 1
		}
		for _, rr := range r.Answer {
			if s, ok := rr.(*dns.SRV); ok {
				s.Weight = w
			}
		}
	}
}

func (ix *Index) srvRR(owner, target string, port uint16) dns.RR {
	return &dns.SRV{Hdr: ix.hdr(owner, dns.TypeSRV), Priority: 0, Weight: 100, Port: port, Target: target}
}

// addrAnswer appends the addresses of the asked family. Other families
// give NODATA (the name exists).
func (ix *Index) addrAnswer(r *Result, owner string, addrs []netip.Addr, qtype uint16) {
	if qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return
	}
	for _, a := range addrs {
		a = a.Unmap()
		if (qtype == dns.TypeA) == a.Is4() {
			r.Answer = append(r.Answer, ix.addrRR(owner, a))
		}
	}
}

func (ix *Index) addrRR(owner string, a netip.Addr) dns.RR {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return &dns.A{Hdr: ix.hdr(owner, dns.TypeA), A: net.IP(b[:])}
	}
	b := a.As16()
	return &dns.AAAA{Hdr: ix.hdr(owner, dns.TypeAAAA), AAAA: net.IP(b[:])}
}

// reverse answers PTR questions for ClusterIPs and endpoint IPs. Unknown
// addresses and other types fall through (ok false) so they get forwarded,
// like CoreDNS's "fallthrough in-addr.arpa ip6.arpa".
func (ix *Index) reverse(owner, lname string, qtype uint16) (Result, bool) {
	if qtype != dns.TypePTR {
		return Result{}, false
	}
	ipStr := dnsExtractAddress(lname)
	a, err := netip.ParseAddr(ipStr)
	if ipStr == "" || err != nil {
		return Result{}, false
	}
	ix.mu.RLock()
	names := ix.ptr[a.Unmap()]
	var r Result
	for _, n := range names {
		r.Answer = append(r.Answer, &dns.PTR{Hdr: ix.hdr(owner, dns.TypePTR), Ptr: n + "." + ix.zone})
	}
	ix.mu.RUnlock()
	if len(r.Answer) == 0 {
		return Result{}, false
	}
	r.Authoritative = true
	return r, true
}

func (ix *Index) hdr(owner string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ix.ttl}
}

func (ix *Index) soa() dns.RR { return ix.soaNamed(ix.zone) }

func (ix *Index) soaNamed(owner string) dns.RR {
	return &dns.SOA{
		Hdr:     ix.hdr(owner, dns.TypeSOA),
		Ns:      "ns.dns." + ix.zone,
		Mbox:    "hostmaster." + ix.zone,
		Serial:  ix.serial.Load(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  ix.ttl,
	}
}

// SOA returns the zone's SOA record, as put in the authority section of
// negative answers.
func (ix *Index) SOA() dns.RR { return ix.soa() }

// inZone reports whether the lower-case FQDN lname is the zone or below it.
func (ix *Index) inZone(lname string) bool {
	if !strings.HasSuffix(lname, ix.zone) {
		return false
	}
	rest := len(lname) - len(ix.zone)
	return rest == 0 || lname[rest-1] == '.'
}
