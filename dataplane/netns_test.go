package dataplane_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skiffnet/skiff/dataplane/lab"
	"github.com/skiffnet/skiff/dataplane/loader"
	"github.com/skiffnet/skiff/dataplane/services"
	"github.com/skiffnet/skiff/internal/nstest"
)

var vip = netip.MustParseAddr("10.96.0.10")

func newLab(t *testing.T, n int) *lab.Lab {
	t.Helper()
	nstest.RequirePrivileged(t)
	c := &nstest.Cleaner{}
	t.Cleanup(c.Cleanup)
	l, err := lab.New(c, n)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func open(t *testing.T, l *lab.Lab, opts loader.Options) (*loader.Dataplane, *services.Reconciler) {
	t.Helper()
	dp, err := l.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := services.NewReconciler(dp.Maps())
	if err != nil {
		t.Fatal(err)
	}
	return dp, rec
}

func dial(t *testing.T, l *lab.Lab, port uint16) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, r, name, err := lab.Dial(l.Client, netip.AddrPortFrom(vip, port))
	if err != nil {
		t.Fatal(err)
	}
	return c, r, name
}

func udpConn(t *testing.T, l *lab.Lab, port uint16) net.Conn {
	t.Helper()
	c, err := lab.UDPConn(l.Client, netip.AddrPortFrom(vip, port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stream keeps a connection busy with echo round trips until stop closes,
// returning the first error.
func stream(c net.Conn, r *bufio.Reader, stop <-chan struct{}, rounds *atomic.Int64) error {
	defer c.Close()
	msg := []byte("ping-123")
	buf := make([]byte, len(msg))
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		rounds.Add(1)
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPrivilegedBalancingAndEndpointChanges(t *testing.T) {
	l := newLab(t, 3)
	dp, rec := open(t, l, loader.Options{})
	t.Cleanup(func() { _ = dp.Remove() })
	if err := rec.Update([]services.Service{l.Service(vip, services.TCP, 80, 1, 2, 3), l.Service(vip, services.UDP, 53, 1, 2, 3)}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		c, _, name := dial(t, l, 80)
		c.Close()
		seen[name]++
	}
	if len(seen) != 3 {
		t.Fatalf("30 connections reached %v, want all 3 backends", seen)
	}
	udpSeen := map[string]bool{}
	for i := 0; i < 20; i++ {
		name, err := lab.Ask(udpConn(t, l, 53))
		if err != nil {
			t.Fatalf("UDP request %d: %v", i, err)
		}
		udpSeen[name] = true
	}
	if len(udpSeen) < 2 {
		t.Fatalf("20 UDP flows reached only %v", udpSeen)
	}

	// Under load: 30 streaming connections while be3 is removed, then the
	// set changes again (be3 back, be1 out).
	stop := make(chan struct{})
	var rounds atomic.Int64
	type res struct {
		name string
		err  error
	}
	results := make(chan res, 30)
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		c, r, name := dial(t, l, 80)
		wg.Add(1)
		go func() { defer wg.Done(); results <- res{name, stream(c, r, stop, &rounds)} }()
	}
	time.Sleep(200 * time.Millisecond)
	if err := rec.Upsert(l.Service(vip, services.TCP, 80, 1, 2)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		c, _, name := dial(t, l, 80)
		c.Close()
		if name == "be3" {
			t.Fatal("a new connection reached the removed backend be3")
		}
	}
	if err := rec.Upsert(l.Service(vip, services.TCP, 80, 2, 3)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		c, _, name := dial(t, l, 80)
		c.Close()
		if name == "be1" {
			t.Fatal("a new connection reached the removed backend be1")
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(results)
	names := map[string]int{}
	for r := range results {
		names[r.name]++
		if r.err != nil {
			t.Errorf("stream to %s: %v", r.name, r.err)
		}
	}
	if names["be2"] == 0 || rounds.Load() < 100 {
		t.Fatalf("load too thin to judge: streams %v, %d rounds", names, rounds.Load())
	}
}

func TestPrivilegedUDPMovesOffRemovedBackend(t *testing.T) {
	l := newLab(t, 2)
	dp, rec := open(t, l, loader.Options{})
	t.Cleanup(func() { _ = dp.Remove() })
	if err := rec.Upsert(l.Service(vip, services.UDP, 53, 1, 2)); err != nil {
		t.Fatal(err)
	}
	c := udpConn(t, l, 53)
	first, err := lab.Ask(c)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if n, err := lab.Ask(c); err != nil || n != first {
			t.Fatalf("flow left %s: %q %v", first, n, err)
		}
	}
	keep := 1
	if first == "be1" {
		keep = 2
	}
	if err := rec.Upsert(l.Service(vip, services.UDP, 53, keep)); err != nil {
		t.Fatal(err)
	}
	n, err := lab.Ask(c)
	if err != nil {
		t.Fatalf("UDP flow black-holed after its backend was removed: %v", err)
	}
	if n != fmt.Sprintf("be%d", keep) {
		t.Fatalf("answered by %s, want be%d", n, keep)
	}
}

func TestPrivilegedNoEndpointsAndHairpin(t *testing.T) {
	l := newLab(t, 1)
	dp, rec := open(t, l, loader.Options{})
	t.Cleanup(func() { _ = dp.Remove() })
	if err := rec.Update([]services.Service{
		l.Service(vip, services.TCP, 81), l.Service(vip, services.UDP, 54),
		l.Service(vip, services.TCP, 80, 1),
	}); err != nil {
		t.Fatal(err)
	}
	// No endpoints: refused at once, not a timeout.
	start := time.Now()
	_, _, _, err := lab.Dial(l.Client, netip.AddrPortFrom(vip, 81))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("TCP to a service without endpoints: %v, want connection refused", err)
	}
	c := udpConn(t, l, 54)
	if _, err := lab.Ask(c); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("UDP to a service without endpoints: %v, want connection refused (ICMP port unreachable)", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusal took %s", d)
	}
	// Hairpin: backend 1 reaches its own service and gets its own answer.
	hc, _, name, err := lab.Dial(l.Backends[0], netip.AddrPortFrom(vip, 80))
	if err != nil {
		t.Fatalf("hairpin connection: %v", err)
	}
	hc.Close()
	if name != "be1" {
		t.Fatalf("hairpin answered by %q", name)
	}
}

func TestPrivilegedRestartKeepsStreams(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts loader.Options
	}{{"tcx", loader.Options{}}, {"clsact", loader.Options{ForceNetlink: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, 3)
			dp, rec := open(t, l, tc.opts)
			t.Cleanup(func() { _ = dp.Remove() })
			want := l.Service(vip, services.TCP, 80, 1, 2, 3)
			if err := rec.Upsert(want); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			var rounds atomic.Int64
			errs := make(chan error, 100)
			var wg sync.WaitGroup
			for i := 0; i < 100; i++ {
				c, r, _ := dial(t, l, 80)
				wg.Add(1)
				go func() { defer wg.Done(); errs <- stream(c, r, stop, &rounds) }()
			}
			time.Sleep(200 * time.Millisecond)
			retrans := retransmits(t, l)
			// The process "dies": every handle is released, only pins
			// and attachments remain. Traffic must keep flowing.
			if err := dp.Close(); err != nil {
				t.Fatal(err)
			}
			mid := rounds.Load()
			time.Sleep(300 * time.Millisecond)
			if rounds.Load() <= mid {
				t.Fatal("no traffic while the dataplane process was gone")
			}
			// Restart: re-adopt maps and links, restore ids.
			dp, rec = open(t, l, tc.opts)
			if got := rec.Services(); len(got) != 1 || len(got[0].Backends) != 3 {
				t.Fatalf("restored services %+v", got)
			}
			if err := rec.Upsert(want); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("stream broken by restart: %v", err)
				}
			}
			if n := retransmits(t, l) - retrans; n != 0 {
				t.Errorf("%d TCP segments retransmitted across the restart: packets were lost", n)
			}
			c, _, _ := dial(t, l, 80)
			c.Close()
			if out := l.Node.MustRun(t, "tc", "filter", "show", "dev", "c0", "ingress"); tc.opts.ForceNetlink != (len(out) > 0) {
				t.Fatalf("tc filters on c0 (netlink=%v): %q", tc.opts.ForceNetlink, out)
			}
		})
	}
}

// TestPrivilegedPathMTUThroughVIP: the node forwards onto a path with a
// smaller MTU and answers the client with ICMP fragmentation needed quoting
// the translated packet (client -> backend). Only if that error is
// reverse-translated (client -> VIP) does the client's TCP learn the path
// MTU; otherwise the transfer stalls in a PMTU black hole.
func TestPrivilegedPathMTUThroughVIP(t *testing.T) {
	l := newLab(t, 1)
	dp, rec := open(t, l, loader.Options{})
	t.Cleanup(func() { _ = dp.Remove() })
	if err := rec.Upsert(l.Service(vip, services.TCP, 80, 1)); err != nil {
		t.Fatal(err)
	}
	l.Node.MustRun(t, "ip", "route", "replace", "10.2.1.0/24", "dev", "b1", "mtu", "lock", "1200")
	c, r, _ := dial(t, l, 80)
	defer c.Close()
	data := make([]byte, 256<<10)
	for i := range data {
		data[i] = byte(i)
	}
	_ = c.SetDeadline(time.Now().Add(8 * time.Second))
	go func() { _, _ = c.Write(data) }()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("256 KiB echo through the VIP over a 1200-byte path: %v (PMTU black hole?)", err)
	}
	st, err := dp.Maps().ReadStats()
	if err != nil {
		t.Fatal(err)
	}
	if st["icmp_error_translated"] == 0 {
		t.Fatalf("no ICMP error was translated: %v", st)
	}
	if out := l.Client.MustRun(t, "ip", "route", "get", vip.String()); !strings.Contains(out, "mtu 1200") {
		t.Fatalf("client did not learn the path MTU for the VIP: %s", out)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// retransmits sums TCP RetransSegs over the client and backend namespaces:
// a lost packet of a streaming connection, either way, shows up there.
func retransmits(t *testing.T, l *lab.Lab) int64 {
	t.Helper()
	n := retransIn(t, l.Client)
	for _, b := range l.Backends {
		n += retransIn(t, b)
	}
	return n
}

func retransIn(t *testing.T, ns *nstest.NS) int64 {
	t.Helper()
	out := ns.MustRun(t, "cat", "/proc/net/snmp")
	var hdr []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if hdr == nil {
			hdr = f
			continue
		}
		for i, name := range hdr {
			if name == "RetransSegs" && i < len(f) {
				var n int64
				fmt.Sscan(f[i], &n)
				return n
			}
		}
	}
	t.Fatal("no RetransSegs in /proc/net/snmp")
	return 0
}
