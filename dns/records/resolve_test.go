package records

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

const (
	nx   = dns.RcodeNameError
	ok   = dns.RcodeSuccess
	fail = dns.RcodeServerFailure
)

type tcase struct {
	name   string
	qtype  uint16
	rcode  int
	answer []string // zone-file lines, in order
	extra  []string
	// fwd marks questions the index does not own (they get forwarded).
	fwd bool
}

func rrs(t *testing.T, lines []string) []string {
	t.Helper()
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("bad expected RR %q: %v", l, err)
		}
		out = append(out, rr.String())
	}
	return out
}

func strs(in []dns.RR) []string {
	out := make([]string, 0, len(in))
	for _, rr := range in {
		out = append(out, rr.String())
	}
	return out
}

func check(t *testing.T, ix *Index, tc tcase) {
	t.Helper()
	r := ix.Resolve(tc.name, tc.qtype)
	label := tc.name + " " + dns.TypeToString[tc.qtype]
	if tc.fwd {
		if r.Authoritative {
			t.Errorf("%s: answered from the index, want forwarded", label)
		}
		return
	}
	if !r.Authoritative {
		t.Errorf("%s: forwarded, want answered from the index", label)
		return
	}
	if r.Rcode != tc.rcode {
		t.Errorf("%s: rcode %s, want %s", label, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
	}
	want, got := rrs(t, tc.answer), strs(r.Answer)
	if len(want) != len(got) {
		t.Errorf("%s: answer\n got %q\nwant %q", label, got, want)
	} else {
		for i := range want {
			if want[i] != got[i] {
				t.Errorf("%s: answer[%d]\n got %q\nwant %q", label, i, got[i], want[i])
			}
		}
	}
	if tc.extra != nil {
		we, ge := rrs(t, tc.extra), strs(r.Extra)
		if len(we) != len(ge) {
			t.Errorf("%s: extra\n got %q\nwant %q", label, ge, we)
		}
	}
	// NXDOMAIN, NODATA and SERVFAIL carry the zone SOA in authority;
	// positive answers do not.
	negative := r.Rcode != ok || len(r.Answer) == 0
	hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
	if negative != hasSOA {
		t.Errorf("%s: authority %v, want SOA only on negative answers", label, strs(r.Ns))
	}
}

func TestResolveTable(t *testing.T) {
	ix := loaded(t)
	const z = "cluster.local."
	tests := []tcase{
		// Service A/AAAA -> ClusterIP(s); names are case-insensitive and the
		// owner name repeats the question.
		{name: "web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.20"}},
		{name: "WEB.Default.SVC.Cluster.Local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{"WEB.Default.SVC.Cluster.Local. 5 IN A 10.96.0.20"}},
		{name: "web.default.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: ok,
			answer: []string{"web.default.svc.cluster.local. 5 IN AAAA fd00::20"}},
		{name: "db.other.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: ok}, // NODATA: v4-only
		{name: "db.other.svc.cluster.local.", qtype: dns.TypeTXT, rcode: ok},  // NODATA
		{name: "db.other.svc.cluster.local.", qtype: dns.TypeMX, rcode: ok},   // NODATA
		{name: "nope.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "db.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx}, // wrong namespace
		// Empty non-terminals exist (NODATA); unknown namespaces do not.
		{name: "default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "nons.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "svc.cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "pod.cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "cluster.local.", qtype: dns.TypeSOA, rcode: ok,
			answer: []string{"cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. " +
				itoa(ix.serial.Load()) + " 7200 1800 86400 5"}},
		{name: "foo.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "a.b.c.d.e.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// Headless: one A per ready endpoint (not-ready 10.1.0.3 left out).
		{name: "hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{
				"hl.default.svc.cluster.local. 5 IN A 10.1.0.2",
				"hl.default.svc.cluster.local. 5 IN A 10.1.0.1",
			}},
		{name: "hl.default.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: ok},
		// Headless with no ready endpoints: NXDOMAIN for every type
		// (CoreDNS's errNoItems), not NODATA.
		{name: "empty-hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "empty-hl.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nx},
		{name: "_http._tcp.empty-hl.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nx},
		// Endpoint names: hostname, or the dashed IP when there is none.
		{name: "web-0.hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{"web-0.hl.default.svc.cluster.local. 5 IN A 10.1.0.1"}},
		{name: "10-1-0-2.hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{"10-1-0-2.hl.default.svc.cluster.local. 5 IN A 10.1.0.2"}},
		{name: "10-1-0-3.hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx}, // not ready
		{name: "web-0.hl.default.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: ok},
		{name: "web-9.hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// CoreDNS also serves endpoint names of ClusterIP services.
		{name: "10-1-1-1.web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{"10-1-1-1.web.default.svc.cluster.local. 5 IN A 10.1.1.1"}},
		// SRV for named ports. ClusterIP: target is the service, port the
		// service port, address in extra.
		{name: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok,
			answer: []string{"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.20", "web.default.svc.cluster.local. 5 IN AAAA fd00::20"}},
		{name: "_dns._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok,
			answer: []string{"_dns._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local."}},
		{name: "_HTTP._TCP.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok,
			answer: []string{"_HTTP._TCP.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."}},
		{name: "_http._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nx}, // wrong protocol
		{name: "_nope._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nx},
		{name: "_tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok}, // empty non-terminal
		{name: "_sctp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nx},
		{name: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{"_http._tcp.web.default.svc.cluster.local. 5 IN A 10.96.0.20"}},
		{name: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeTXT, rcode: ok}, // NODATA
		// SRV on the service name lists every named port.
		{name: "web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok,
			answer: []string{
				"web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local.",
			}},
		// Headless SRV: one per ready endpoint and port, the endpoint port,
		// targets hostname or dashed IP, addresses in extra.
		{name: "_http._tcp.hl.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: ok,
			answer: []string{
				"_http._tcp.hl.default.svc.cluster.local. 5 IN SRV 0 50 8080 10-1-0-2.hl.default.svc.cluster.local.",
				"_http._tcp.hl.default.svc.cluster.local. 5 IN SRV 0 50 8080 web-0.hl.default.svc.cluster.local.",
			},
			extra: []string{
				"10-1-0-2.hl.default.svc.cluster.local. 5 IN A 10.1.0.2",
				"web-0.hl.default.svc.cluster.local. 5 IN A 10.1.0.1",
			}},
		// PTR for ClusterIPs and endpoint IPs; unknown addresses forward.
		{name: "20.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: ok,
			answer: []string{"20.0.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local."}},
		{name: "1.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: ok,
			answer: []string{"1.0.1.10.in-addr.arpa. 5 IN PTR web-0.hl.default.svc.cluster.local."}},
		{name: "2.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: ok,
			answer: []string{"2.0.1.10.in-addr.arpa. 5 IN PTR 10-1-0-2.hl.default.svc.cluster.local."}},
		{name: "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", qtype: dns.TypePTR, rcode: ok,
			answer: []string{"0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR web.default.svc.cluster.local."}},
		{name: "3.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, fwd: true}, // not-ready endpoint
		{name: "8.8.8.8.in-addr.arpa.", qtype: dns.TypePTR, fwd: true},
		{name: "20.0.96.10.in-addr.arpa.", qtype: dns.TypeA, fwd: true},
		// ExternalName: CNAME, chased by the caller when outside the zone,
		// followed here when inside.
		{name: "ext.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME example.com."}},
		{name: "ext.default.svc.cluster.local.", qtype: dns.TypeCNAME, rcode: ok,
			answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME example.com."}},
		{name: "alias.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{
				"alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN A 10.96.0.20",
			}},
		{name: "x.ext.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// Pods (insecure mode): any well-formed address answers itself.
		{name: "10-244-1-7.default.pod.cluster.local.", qtype: dns.TypeA, rcode: ok,
			answer: []string{"10-244-1-7.default.pod.cluster.local. 5 IN A 10.244.1.7"}},
		{name: "10-244-1-7.anyns.pod.cluster.local.", qtype: dns.TypeAAAA, rcode: ok},
		{name: "fd00--7.default.pod.cluster.local.", qtype: dns.TypeAAAA, rcode: ok,
			answer: []string{"fd00--7.default.pod.cluster.local. 5 IN AAAA fd00::7"}},
		{name: "10-244-1.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "10-244-1-300.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "not-an-ip.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nx},
		{name: "default.pod.cluster.local.", qtype: dns.TypeA, rcode: ok},
		{name: "x.10-244-1-7.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nx},
		// dns-version TXT.
		{name: "dns-version.cluster.local.", qtype: dns.TypeTXT, rcode: ok,
			answer: []string{`dns-version.cluster.local. 5 IN TXT "1.1.0"`}},
		{name: "dns-version.cluster.local.", qtype: dns.TypeA, rcode: ok},
		// Outside the zone: forwarded.
		{name: "example.com.", qtype: dns.TypeA, fwd: true},
		{name: "local.", qtype: dns.TypeA, fwd: true},
		{name: "xcluster.local.", qtype: dns.TypeA, fwd: true},
	}
	_ = z
	for _, tc := range tests {
		check(t, ix, tc)
	}
}

func itoa(v uint32) string {
	b := []byte{}
	if v == 0 {
		return "0"
	}
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

func TestResolveBeforeSyncIsServfail(t *testing.T) {
	ix := New("cluster.local", 5)
	ix.SetService(&Service{Namespace: "default", Name: "web", ClusterIPs: []netip.Addr{ip("10.96.0.20")}})
	check(t, ix, tcase{name: "web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: fail})
	check(t, ix, tcase{name: "dns-version.cluster.local.", qtype: dns.TypeTXT, rcode: fail})
	check(t, ix, tcase{name: "example.com.", qtype: dns.TypeA, fwd: true})
	ix.MarkSynced()
	check(t, ix, tcase{name: "web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
		answer: []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.20"}})
}

func TestCustomZoneAndTTL(t *testing.T) {
	ix := New("Corp.Example.", 30)
	ix.MarkSynced()
	ix.SetService(&Service{Namespace: "a", Name: "b", ClusterIPs: []netip.Addr{ip("10.0.0.1")}})
	check(t, ix, tcase{name: "b.a.svc.corp.example.", qtype: dns.TypeA, rcode: ok,
		answer: []string{"b.a.svc.corp.example. 30 IN A 10.0.0.1"}})
	check(t, ix, tcase{name: "b.a.svc.cluster.local.", qtype: dns.TypeA, fwd: true})
}

func TestUpdatesAndDeletes(t *testing.T) {
	ix := loaded(t)
	ix.DeleteSlice("default", "hl-abc")
	check(t, ix, tcase{name: "hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx})
	check(t, ix, tcase{name: "1.0.1.10.in-addr.arpa.", qtype: dns.TypePTR, fwd: true})
	ix.SetSlice(&EndpointSlice{Namespace: "default", Name: "hl-abc", Service: "hl",
		Endpoints: []Endpoint{{Addrs: []netip.Addr{ip("10.1.0.5")}, Ready: true}}})
	check(t, ix, tcase{name: "hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
		answer: []string{"hl.default.svc.cluster.local. 5 IN A 10.1.0.5"}})
	// A slice moved to another service leaves the first one.
	ix.SetSlice(&EndpointSlice{Namespace: "default", Name: "hl-abc", Service: "empty-hl",
		Endpoints: []Endpoint{{Addrs: []netip.Addr{ip("10.1.0.5")}, Ready: true}}})
	check(t, ix, tcase{name: "hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nx})
	check(t, ix, tcase{name: "empty-hl.default.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
		answer: []string{"empty-hl.default.svc.cluster.local. 5 IN A 10.1.0.5"}})
	ix.DeleteService("other", "db")
	check(t, ix, tcase{name: "db.other.svc.cluster.local.", qtype: dns.TypeA, rcode: nx})
	check(t, ix, tcase{name: "other.svc.cluster.local.", qtype: dns.TypeA, rcode: nx})
	check(t, ix, tcase{name: "30.0.96.10.in-addr.arpa.", qtype: dns.TypePTR, fwd: true})
	// Slices that arrive before their service wait for it.
	ix.SetSlice(&EndpointSlice{Namespace: "late", Name: "s-1", Service: "s",
		Endpoints: []Endpoint{{Addrs: []netip.Addr{ip("10.2.0.1")}, Ready: true}}})
	check(t, ix, tcase{name: "s.late.svc.cluster.local.", qtype: dns.TypeA, rcode: nx})
	ix.SetService(&Service{Namespace: "late", Name: "s", Headless: true})
	check(t, ix, tcase{name: "s.late.svc.cluster.local.", qtype: dns.TypeA, rcode: ok,
		answer: []string{"s.late.svc.cluster.local. 5 IN A 10.2.0.1"}})
}
