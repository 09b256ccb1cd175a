package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func msg(t *testing.T, name string, rcode int, answer []string, ns []string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Response = true
	m.Rcode = rcode
	for _, l := range answer {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	for _, l := range ns {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		m.Ns = append(m.Ns, rr)
	}
	return m
}

func TestLifetimes(t *testing.T) {
	c := New(Config{})
	now := time.Unix(1000, 0)
	c.SetClock(func() time.Time { return now })
	q := func(name string) dns.Question {
		return dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}
	}

	c.Put(msg(t, "a.test.", dns.RcodeSuccess, []string{"a.test. 60 IN A 192.0.2.1", "a.test. 20 IN A 192.0.2.2"}, nil))
	c.Put(msg(t, "nx.test.", dns.RcodeNameError, nil, []string{"test. 300 IN SOA ns. h. 1 2 3 4 10"}))
	c.Put(msg(t, "nodata.test.", dns.RcodeSuccess, nil, nil))
	c.Put(msg(t, "fail.test.", dns.RcodeServerFailure, nil, nil))
	zero := msg(t, "zero.test.", dns.RcodeSuccess, []string{"zero.test. 0 IN A 192.0.2.1"}, nil)
	c.Put(zero)
	tc := msg(t, "tc.test.", dns.RcodeSuccess, []string{"tc.test. 60 IN A 192.0.2.1"}, nil)
	tc.Truncated = true
	c.Put(tc)

	for _, name := range []string{"fail.test.", "zero.test.", "tc.test."} {
		if _, ok := c.Get(q(name)); ok {
			t.Errorf("%s was cached", name)
		}
	}
	if m, ok := c.Get(q("A.TEST.")); !ok || len(m.Answer) != 2 {
		t.Fatalf("positive entry missing (case-insensitive key): %v", m)
	}
	if _, ok := c.Get(q("nodata.test.")); !ok {
		t.Fatal("NODATA without SOA not cached for the short default")
	}
	now = now.Add(5 * time.Second)
	if _, ok := c.Get(q("nodata.test.")); ok {
		t.Fatal("NODATA without SOA outlived the 5 s default")
	}
	if m, _ := c.Get(q("nx.test.")); m == nil || m.Rcode != dns.RcodeNameError || m.Ns[0].Header().Ttl != 295 {
		t.Fatalf("negative entry: %v", m)
	}
	now = now.Add(6 * time.Second) // 11 s: past SOA minimum 10 and default 5
	if _, ok := c.Get(q("nx.test.")); ok {
		t.Fatal("NXDOMAIN outlived its SOA minimum")
	}
	if _, ok := c.Get(q("a.test.")); !ok {
		t.Fatal("positive entry expired early")
	}
	now = now.Add(10 * time.Second) // 21 s: past the smallest TTL, 20
	if _, ok := c.Get(q("a.test.")); ok {
		t.Fatal("positive entry outlived its smallest TTL")
	}
	if m, ok := c.GetStale(q("a.test.")); !ok || m.Answer[0].Header().Ttl != 30 {
		t.Fatalf("stale entry: %v", m)
	}
	now = now.Add(2 * time.Hour)
	if _, ok := c.GetStale(q("a.test.")); ok {
		t.Fatal("stale entry served past the stale window")
	}
}

func TestBounded(t *testing.T) {
	c := New(Config{MaxEntries: 160})
	for i := range 5000 {
		c.Put(msg(t, fmt.Sprintf("h%d.test.", i), dns.RcodeSuccess, []string{fmt.Sprintf("h%d.test. 60 IN A 192.0.2.1", i)}, nil))
	}
	if n := c.Len(); n > 160+shards {
		t.Fatalf("cache holds %d entries, bound 160", n)
	}
}
