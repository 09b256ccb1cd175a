package podnet

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffnet/skiff/internal/nstest"
)

func TestPrivilegedPodNetwork20Pods(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	tp := nstest.New(t)
	node, err := tp.NS("node")
	if err != nil {
		t.Fatal(err)
	}
	const npods = 20
	pods := make([]*nstest.NS, npods)
	refs := make([]PodRef, npods)
	for i := range pods {
		if pods[i], err = tp.NS(fmt.Sprintf("p%d", i)); err != nil {
			t.Fatal(err)
		}
		refs[i] = PodRef{Namespace: "default", Name: fmt.Sprintf("web-%d", i), UID: fmt.Sprintf("%s-uid-%d", tp.Prefix, i)}
	}
	// The node's own address, which the host uses as source towards pods.
	node.MustRun(t, "ip", "addr", "add", "10.251.99.1/32", "dev", "lo")
	nsPath := func(ns *nstest.NS) string { return "/run/netns/" + ns.Name }
	cfg := Config{
		DataDir:    t.TempDir(),
		PodCIDR:    netip.MustParsePrefix("10.251.7.0/24"),
		MTU:        1450,
		VethPrefix: tp.Prefix,
		HostNetNS:  nsPath(node),
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ips := make([]netip.Addr, npods)
	seen := map[netip.Addr]bool{}
	for i := range pods {
		if ips[i], err = n.Setup(ctx, refs[i], nsPath(pods[i])); err != nil {
			t.Fatal(err)
		}
		if seen[ips[i]] || !cfg.PodCIDR.Contains(ips[i]) {
			t.Fatalf("pod %d got %v (duplicate or outside %v)", i, ips[i], cfg.PodCIDR)
		}
		seen[ips[i]] = true
	}
	if out := node.MustRun(t, "cat", "/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(out) != "1" {
		t.Fatalf("forwarding not enabled in host ns: %q", out)
	}
	ping := func(from *nstest.NS, to netip.Addr) {
		t.Helper()
		if out, err := from.Run("ping", "-c1", "-W2", to.String()); err != nil {
			t.Fatalf("ping %v from %s: %v\n%s", to, from.Name, err, out)
		}
	}
	ping(pods[0], ips[1])
	ping(pods[13], ips[7])
	ping(node, ips[19])
	// Pod side: eth0 with the /32, MTU, default route via the gateway.
	link := pods[3].MustRun(t, "ip", "-o", "addr", "show", "dev", "eth0")
	if !strings.Contains(link, ips[3].String()+"/32") {
		t.Fatalf("pod 3 eth0: %s", link)
	}
	if out := pods[3].MustRun(t, "ip", "link", "show", "eth0"); !strings.Contains(out, "mtu 1450") {
		t.Fatalf("pod eth0 MTU: %s", out)
	}
	if out := pods[3].MustRun(t, "ip", "route", "show", "default"); !strings.Contains(out, "via 169.254.1.1 dev eth0") {
		t.Fatalf("pod default route: %s", out)
	}

	// Restart: IPAM comes back from disk with the same addresses, and
	// Setup of an existing pod is idempotent.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	got := n.IPAM().ListAllocated()
	if len(got) != npods {
		t.Fatalf("%d allocations after reopen, want %d", len(got), npods)
	}
	for i := range refs {
		if a, ok := n.IPAM().Lookup(refs[i].UID); !ok || a.IP != ips[i] {
			t.Fatalf("pod %d after reopen: %+v, want %v", i, a, ips[i])
		}
	}
	a0, _ := n.IPAM().Lookup(refs[0].UID)
	before := node.MustRun(t, "ip", "-o", "link", "show", a0.HostVeth)
	again, err := n.Setup(ctx, refs[0], nsPath(pods[0]))
	if err != nil || again != ips[0] {
		t.Fatalf("re-Setup pod 0: %v %v, want %v", again, err, ips[0])
	}
	// Re-Setup of a wired pod (agent restart) adopts its veth, not a new one.
	if after := node.MustRun(t, "ip", "-o", "link", "show", a0.HostVeth); strings.Fields(after)[0] != strings.Fields(before)[0] {
		t.Fatalf("re-Setup replaced the pod's veth:\nbefore %s\nafter  %s", before, after)
	}
	ping(pods[1], ips[0])

	// An orphan veth with our prefix (agent crashed before recording it).
	node.MustRun(t, "ip", "link", "add", tp.Prefix+"orph", "type", "veth", "peer", "name", tp.Prefix+"orq")

	// GC as if pods 10-19 were deleted while the agent was down.
	live := map[string]bool{}
	for i := 0; i < 10; i++ {
		live[refs[i].UID] = true
	}
	freed, err := n.GC(ctx, func(p PodRef) bool { return live[p.UID] })
	if err != nil {
		t.Fatal(err)
	}
	if len(freed) != 10 {
		t.Fatalf("GC freed %d, want 10", len(freed))
	}
	veths, err := n.HostVeths()
	if err != nil {
		t.Fatal(err)
	}
	if len(veths) != 10 {
		t.Fatalf("after GC host veths %v, want the 10 live pods'", veths)
	}
	ping(pods[9], ips[2])

	for i := 0; i < 10; i++ {
		if err := n.Teardown(ctx, refs[i], nsPath(pods[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Teardown(ctx, refs[0], ""); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
	if veths, _ := n.HostVeths(); len(veths) != 0 {
		t.Fatalf("veths left: %v", veths)
	}
	if left := n.IPAM().ListAllocated(); len(left) != 0 {
		t.Fatalf("addresses left: %+v", left)
	}
	files, _ := os.ReadDir(filepath.Join(cfg.DataDir, "podnet", "ipam"))
	for _, f := range files {
		if f.Name() != ".lock" {
			t.Fatalf("IPAM file left: %s", f.Name())
		}
	}
	for i, p := range pods {
		if out, err := p.Run("ip", "-o", "link", "show", "eth0"); err == nil {
			t.Fatalf("pod %d still has eth0: %s", i, out)
		}
	}
	if out := node.MustRun(t, "ip", "-4", "route", "show"); strings.Contains(out, "10.251.7.") {
		t.Fatalf("host routes left:\n%s", out)
	}
}

func TestPrivilegedSetupFailureReleasesAddress(t *testing.T) {
	nstest.RequirePrivileged(t)
	tp := nstest.New(t)
	node, err := tp.NS("node")
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{DataDir: t.TempDir(), PodCIDR: netip.MustParsePrefix("10.251.8.0/24"), VethPrefix: tp.Prefix, HostNetNS: "/run/netns/" + node.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	_, err = n.Setup(context.Background(), PodRef{Namespace: "x", Name: "y", UID: "u1"}, "/run/netns/"+tp.Prefix+"-missing")
	if err == nil {
		t.Fatal("Setup into a missing netns succeeded")
	}
	if left := n.IPAM().ListAllocated(); len(left) != 0 {
		t.Fatalf("failed Setup leaked %+v", left)
	}
	if v, _ := n.HostVeths(); len(v) != 0 {
		t.Fatalf("failed Setup leaked veths %v", v)
	}
}
