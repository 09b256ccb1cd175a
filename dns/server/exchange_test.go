package server

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dig runs Debian's dig against addr and returns its +short/+noall output.
func dig(t *testing.T, addr string, args ...string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	full := append([]string{"@" + host, "-p", port, "+time=2", "+tries=1"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dig", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", full, err, out)
	}
	return string(out)
}

func needDig(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (Debian package dnsutils)")
	}
}

// TestDigExchange queries a listening server over UDP and TCP with dig and
// checks every record type of the specification.
func TestDigExchange(t *testing.T) {
	needDig(t)
	up := startUpstream(t, map[string][]string{
		"external.test. A":  {"external.test. 300 IN A 192.0.2.7"},
		"www.example. A":    {"www.example. 300 IN A 192.0.2.80"},
		"www.example. AAAA": {"www.example. 300 IN AAAA 2001:db8::80"},
	})
	s := start(t, "127.0.0.1:0", up.addr)
	a := s.Addr()
	for _, proto := range []string{"+notcp", "+tcp"} {
		cases := []struct {
			args []string
			want []string // substrings of the answer section
		}{
			{[]string{"web.default.svc.cluster.local", "A"}, []string{"10.96.0.20"}},
			{[]string{"WEB.DEFAULT.svc.Cluster.Local", "A"}, []string{"10.96.0.20"}},
			{[]string{"_http._tcp.web.default.svc.cluster.local", "SRV"}, []string{"0 100 80 web.default.svc.cluster.local."}},
			{[]string{"_http._tcp.hl.default.svc.cluster.local", "SRV"}, []string{"8080 10-1-0-1.hl.default.svc.cluster.local."}},
			{[]string{"10-1-0-5.hl.default.svc.cluster.local", "A"}, []string{"10.1.0.5"}},
			{[]string{"-x", "10.96.0.20"}, []string{"web.default.svc.cluster.local."}},
			{[]string{"-x", "10.1.0.9"}, []string{"10-1-0-9.hl.default.svc.cluster.local."}},
			{[]string{"ext.default.svc.cluster.local", "A"}, []string{"CNAME\texternal.test.", "192.0.2.7"}},
			{[]string{"10-244-0-5.default.pod.cluster.local", "A"}, []string{"10.244.0.5"}},
			{[]string{"dns-version.cluster.local", "TXT"}, []string{`"1.1.0"`}},
			{[]string{"www.example", "A"}, []string{"192.0.2.80"}},
		}
		for _, c := range cases {
			args := append([]string{proto, "+noall", "+answer"}, c.args...)
			out := dig(t, a, args...)
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("dig %s %v: answer lacks %q:\n%s", proto, c.args, w, out)
				}
			}
		}
		// Negative answers: status and SOA.
		out := dig(t, a, proto, "missing.default.svc.cluster.local", "A")
		if !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, "IN\tSOA\tns.dns.cluster.local.") {
			t.Errorf("dig %s missing name: want NXDOMAIN with SOA:\n%s", proto, out)
		}
		out = dig(t, a, proto, "web.default.svc.cluster.local", "AAAA")
		if !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "ANSWER: 0") || !strings.Contains(out, "SOA") {
			t.Errorf("dig %s NODATA: want NOERROR, no answer, SOA:\n%s", proto, out)
		}
		out = dig(t, a, proto, "-c", "CH", "version.bind", "TXT")
		if !strings.Contains(out, "status: REFUSED") {
			t.Errorf("dig %s CH: want REFUSED:\n%s", proto, out)
		}
	}
	// Truncation over UDP without EDNS, full answer over TCP.
	out := dig(t, a, "+noedns", "+notcp", "+ignore", "hl.default.svc.cluster.local", "A")
	if !strings.Contains(out, " tc ") && !strings.Contains(out, " tc;") {
		t.Errorf("plain UDP with 100 endpoints: want TC flag:\n%s", out)
	}
	out = dig(t, a, "+tcp", "+short", "hl.default.svc.cluster.local", "A")
	if n := len(strings.Fields(out)); n != 100 {
		t.Errorf("TCP: %d addresses, want 100", n)
	}
	// dig retries truncated UDP answers over TCP on its own.
	out = dig(t, a, "+noedns", "+short", "hl.default.svc.cluster.local", "A")
	if n := len(strings.Fields(out)); n != 100 {
		t.Errorf("UDP then TCP retry: %d addresses, want 100", n)
	}
}

// TestMalformedOverUDP sends garbage and header-only packets to a live
// server: it answers FORMERR where it can and keeps serving.
func TestMalformedOverUDP(t *testing.T) {
	s := start(t, "127.0.0.1:0")
	conn, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A header claiming one question with no question bytes.
	bad := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	// Header with zero questions.
	empty := []byte{0x12, 0x35, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, pkt := range [][]byte{bad, empty} {
		if _, err := conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 512)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no reply to malformed packet % x: %v", pkt, err)
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeFormatError || r.Id != uint16(pkt[0])<<8|uint16(pkt[1]) {
			t.Fatalf("reply to % x: rcode %s id %x, want FORMERR", pkt, dns.RcodeToString[r.Rcode], r.Id)
		}
	}
	if _, err := conn.Write([]byte{1, 2, 3}); err != nil { // too short: dropped
		t.Fatal(err)
	}
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(query("web.default.svc.cluster.local.", dns.TypeA), s.Addr())
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("server stopped answering after garbage: %v %v", r, err)
	}
}
