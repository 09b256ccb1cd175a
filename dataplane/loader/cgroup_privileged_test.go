package loader

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/skiffnet/skiff/bpf/lb"
)

// TestPrivilegedSockBalancing sends real TCP and UDP traffic from processes
// in the node's network namespace, inside and outside the test cgroup the
// socket programs are attached to.
func TestPrivilegedSockBalancing(t *testing.T) {
	l := newSockLab(t)
	vipTCP, vipUDP := labVIP+":80", labVIP+":53"

	// Before any service exists the decoy on the VIP answers everyone.
	if got := names(t, l.client(l.node, true, "tcp", vipTCP, 1), vipTCP); got["direct"] != 1 {
		t.Fatalf("before the service exists: %v, want the decoy", got)
	}
	l.services()

	t.Run("tcp balanced, getpeername shows the VIP", func(t *testing.T) {
		balanced(t, "TCP", names(t, l.client(l.node, true, "tcp", vipTCP, 30), vipTCP))
	})
	t.Run("unconnected udp replies come from the VIP", func(t *testing.T) {
		lines := l.client(l.node, true, "udp", vipUDP, 4) // 2 sockets × 4 datagrams
		got := names(t, lines, vipUDP)
		if got["b1"]+got["b2"] != 8 {
			t.Fatalf("replies %v, want 8 from b1/b2", got)
		}
		// One socket keeps its backend for the frontend.
		for _, sock := range [][]string{lines[:4], lines[4:]} {
			for _, ln := range sock[1:] {
				if ln != sock[0] {
					t.Fatalf("one socket reached two backends:\n%s", strings.Join(lines, "\n"))
				}
			}
		}
	})
	t.Run("connected udp balanced, reads and getpeername show the VIP", func(t *testing.T) {
		balanced(t, "connected UDP", names(t, l.client(l.node, true, "udpconn", vipUDP, 30), vipUDP+" "+vipUDP))
	})
	t.Run("no backends: refused at once", func(t *testing.T) {
		for _, c := range []struct{ mode, addr string }{
			{"tcp", labEmptyVIP + ":80"}, {"udpconn", labEmptyVIP + ":53"}, {"udp", labEmptyVIP + ":53"},
		} {
			for _, ln := range l.client(l.node, true, c.mode, c.addr, 1) {
				if ln != "error ECONNREFUSED" {
					t.Fatalf("%s %s: %q, want error ECONNREFUSED", c.mode, c.addr, ln)
				}
			}
		}
	})
	t.Run("client ip affinity", func(t *testing.T) {
		got := names(t, l.client(l.node, true, "tcp", labAffVIP+":80", 10), labAffVIP+":80")
		if len(got) != 1 {
			t.Fatalf("affinity service reached %v, want one backend", got)
		}
	})
	t.Run("maglev spreads sockets", func(t *testing.T) {
		balanced(t, "Maglev", names(t, l.client(l.node, true, "tcp", labMaglevVIP+":80", 30), labMaglevVIP+":80"))
	})
	t.Run("outside the cgroup: untouched", func(t *testing.T) {
		for _, ln := range l.client(l.node, false, "tcp", vipTCP, 3) {
			if ln != "direct "+vipTCP {
				t.Fatalf("process outside the cgroup: %q, want the decoy", ln)
			}
		}
		for _, ln := range l.client(l.node, false, "udp", vipUDP, 1) {
			if ln != "direct "+vipUDP {
				t.Fatalf("process outside the cgroup (udp): %q, want the decoy", ln)
			}
		}
	})
	t.Run("in the cgroup but another network namespace: untouched", func(t *testing.T) {
		for _, ln := range l.client(l.pods[0], true, "tcp", vipTCP, 3) {
			if ln != "direct "+vipTCP {
				t.Fatalf("pod namespace process: %q, want the decoy (pods are balanced at their veth)", ln)
			}
		}
	})
	t.Run("node-local DNS steering", func(t *testing.T) {
		// The decoy on the VIP stands in for the node-local server.
		const dnsVIP = "10.96.77.20"
		l.service(6, dnsVIP, 53, lb.ProtoUDP, false, labBackends, 5353)
		steer := func(heartbeat time.Duration) {
			err := l.dp.Maps().SetDNSSteering(lb.DNSSteering{ClusterIP: netip.MustParseAddr(dnsVIP),
				LocalIP: netip.MustParseAddr(labVIP), Heartbeat: heartbeat, MaxAge: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
		}
		steer(lb.Monotonic())
		for _, mode := range []string{"udp", "tcp"} {
			for _, ln := range l.client(l.node, true, mode, dnsVIP+":53", 1) {
				if ln != "direct "+dnsVIP+":53" {
					t.Fatalf("%s query while steering: %q, want the local server answering as the cluster DNS IP", mode, ln)
				}
			}
		}
		steer(0) // stopped: the kube-dns Service path
		got := names(t, l.client(l.node, true, "udp", dnsVIP+":53", 1), dnsVIP+":53")
		if got["direct"] != 0 {
			t.Fatalf("query while the heartbeat is stopped: %v, want the Service backends", got)
		}
	})
	t.Run("restart re-adopts the links", func(t *testing.T) {
		if err := l.dp.Close(); err != nil {
			t.Fatal(err)
		}
		l.open()
		if err := l.dp.AttachCgroup(l.cg); err != nil {
			t.Fatal(err)
		}
		for hook, n := range l.attachedSock() {
			if n != 1 {
				t.Fatalf("%s: %d programs attached after re-adopt, want 1", hook, n)
			}
		}
		balanced(t, "TCP after restart", names(t, l.client(l.node, true, "tcp", vipTCP, 30), vipTCP))
		st, err := l.dp.Maps().ReadStats()
		if err != nil {
			t.Fatal(err)
		}
		if st["sock_connect_rewritten"] == 0 || st["sock_sendmsg_rewritten"] == 0 || st["sock_recvmsg_reversed"] == 0 ||
			st["sock_peername_reversed"] == 0 || st["sock_refused_no_backend"] == 0 || st["sock_dns_steered"] == 0 {
			t.Fatalf("socket counters: %v", st)
		}
	})
	none := func(when string) {
		t.Helper()
		for hook, n := range l.attachedSock() {
			if n != 0 {
				t.Fatalf("%s: %d %s programs still attached", when, n, hook)
			}
		}
		for _, ln := range l.client(l.node, true, "tcp", vipTCP, 2) {
			if ln != "direct "+vipTCP {
				t.Fatalf("%s: %q, want the decoy", when, ln)
			}
		}
	}
	t.Run("DetachCgroup detaches", func(t *testing.T) {
		if err := l.dp.DetachCgroup(); err != nil {
			t.Fatal(err)
		}
		none("after DetachCgroup")
	})
	t.Run("RemovePins detaches", func(t *testing.T) {
		if err := l.dp.AttachCgroup(l.cg); err != nil {
			t.Fatal(err)
		}
		balanced(t, "TCP after re-attach", names(t, l.client(l.node, true, "tcp", vipTCP, 30), vipTCP))
		if err := l.dp.Close(); err != nil {
			t.Fatal(err)
		}
		// What internal/agentclean and 'skiff bpf remove' call.
		if err := RemovePins("", l.tp.Prefix); err != nil {
			t.Fatal(err)
		}
		none("after RemovePins")
	})
}
