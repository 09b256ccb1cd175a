package podnet

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/skiffnet/skiff/internal/nstest"
)

func TestPrivilegedNetNSLifecycle(t *testing.T) {
	nstest.RequirePrivileged(t)
	tp := nstest.New(t)
	node, err := tp.NS("node")
	if err != nil {
		t.Fatal(err)
	}
	name := tp.Prefix + "-pinned"
	path := DefaultNetNSDir + "/" + name
	if err := CreateNetNS(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DeleteNetNS(path) })
	if err := CreateNetNS(path); err == nil {
		t.Fatal("CreateNetNS over an existing one succeeded")
	}
	mine, _ := netns.Get()
	defer mine.Close()
	pinned, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	if pinned.Equal(mine) {
		t.Fatal("pinned namespace is the caller's own")
	}
	pinned.Close()
	if out, err := exec(t, name, "ip", "-o", "link"); err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("new netns should hold only lo: %v\n%s", err, out)
	}
	list, err := ListNetNS(DefaultNetNSDir, tp.Prefix+"-pin")
	if err != nil || len(list) != 1 || list[0] != path {
		t.Fatalf("ListNetNS: %v %v", list, err)
	}

	n, err := New(Config{DataDir: t.TempDir(), PodCIDR: netip.MustParsePrefix("10.251.9.0/24"), VethPrefix: tp.Prefix, HostNetNS: "/run/netns/" + node.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	pod := PodRef{Namespace: "default", Name: "pinned", UID: tp.Prefix + "-u"}
	ip, err := n.Setup(context.Background(), pod, path)
	if err != nil {
		t.Fatal(err)
	}
	node.MustRun(t, "ip", "addr", "add", "10.251.99.1/32", "dev", "lo")
	node.MustRun(t, "ping", "-c1", "-W2", ip.String())

	// Deleting the namespace first (pod gone) then tearing down still
	// leaves nothing behind.
	if err := DeleteNetNS(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s still exists", path)
	}
	if err := DeleteNetNS(path); err != nil {
		t.Fatalf("second DeleteNetNS: %v", err)
	}
	if err := n.Teardown(context.Background(), pod, ""); err != nil {
		t.Fatal(err)
	}
	if v, _ := n.HostVeths(); len(v) != 0 {
		t.Fatalf("veths left: %v", v)
	}
	if list, _ := ListNetNS(DefaultNetNSDir, tp.Prefix+"-pin"); len(list) != 0 {
		t.Fatalf("netns left: %v", list)
	}
}

func exec(t *testing.T, nsName string, args ...string) (string, error) {
	t.Helper()
	return (&nstest.NS{Name: nsName}).Run(args...)
}
