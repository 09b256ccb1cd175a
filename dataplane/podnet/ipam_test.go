package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func pod(i int) PodRef {
	return PodRef{Namespace: "default", Name: fmt.Sprintf("p%d", i), UID: fmt.Sprintf("uid-%d", i)}
}

func openT(t *testing.T, dir, cidr string) *IPAM {
	t.Helper()
	m, err := OpenIPAM(dir, netip.MustParsePrefix(cidr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestIPAMAllocatesUsableAddressesOnce(t *testing.T) {
	m := openT(t, t.TempDir(), "10.244.3.0/29") // .2-.6 usable: 5 pods
	if m.Size() != 5 {
		t.Fatalf("Size %d want 5", m.Size())
	}
	seen := map[netip.Addr]bool{}
	for i := 0; i < 5; i++ {
		ip, err := m.Allocate(pod(i), "", "")
		if err != nil {
			t.Fatal(err)
		}
		if seen[ip] {
			t.Fatalf("%v handed out twice", ip)
		}
		seen[ip] = true
		switch ip.String() {
		case "10.244.3.0", "10.244.3.1", "10.244.3.7":
			t.Fatalf("reserved address %v handed out", ip)
		}
	}
	if _, err := m.Allocate(pod(99), "", ""); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("6th allocation in a /29: %v, want ErrPoolExhausted", err)
	}
	// Idempotent per pod UID.
	again, err := m.Allocate(pod(2), "veth2", "/run/netns/x")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := m.Lookup("uid-2"); a.IP != again || a.HostVeth != "veth2" || a.NetNS != "/run/netns/x" {
		t.Fatalf("Lookup after re-Allocate: %+v", a)
	}
	if _, err := m.Allocate(PodRef{Name: "x"}, "", ""); err == nil {
		t.Fatal("pod without UID accepted")
	}
}

func TestIPAMReleaseAndRoundRobin(t *testing.T) {
	m := openT(t, t.TempDir(), "10.244.0.0/24")
	a, _ := m.Allocate(pod(1), "", "")
	b, _ := m.Allocate(pod(2), "", "")
	if err := m.Release(a); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(a); err != nil {
		t.Fatalf("double release: %v", err)
	}
	c, _ := m.Allocate(pod(3), "", "")
	if c == a || c == b {
		t.Fatalf("freed %v reused at once (got %v)", a, c)
	}
	ip, ok, err := m.ReleasePod("uid-2")
	if err != nil || !ok || ip != b {
		t.Fatalf("ReleasePod: %v %v %v", ip, ok, err)
	}
	if got := m.ListAllocated(); len(got) != 1 || got[0].IP != c {
		t.Fatalf("ListAllocated %+v", got)
	}
}

func TestIPAMSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenIPAM(dir, netip.MustParsePrefix("10.244.1.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]netip.Addr{}
	for i := 0; i < 20; i++ {
		ip, err := m.Allocate(pod(i), fmt.Sprintf("veth%d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		want[pod(i).UID] = ip
	}
	for i := 0; i < 20; i += 2 {
		if _, _, err := m.ReleasePod(pod(i).UID); err != nil {
			t.Fatal(err)
		}
		delete(want, pod(i).UID)
	}
	if _, err := OpenIPAM(dir, netip.MustParsePrefix("10.244.1.0/24")); err == nil {
		t.Fatal("second OpenIPAM on a locked dir succeeded")
	}
	m.Close()
	// A crashed write leaves a temp file; it must not count.
	os.WriteFile(filepath.Join(dir, ".tmp-10.244.1.200-abcd"), []byte("{"), 0o600)

	m2 := openT(t, dir, "10.244.1.0/24")
	got := m2.ListAllocated()
	if len(got) != len(want) {
		t.Fatalf("after reopen %d allocations, want %d: %+v", len(got), len(want), got)
	}
	for _, a := range got {
		if want[a.Pod.UID] != a.IP || a.HostVeth == "" {
			t.Fatalf("after reopen %+v, want ip %v", a, want[a.Pod.UID])
		}
	}
	// Existing owners get their old address; new ones never collide.
	if ip, _ := m2.Allocate(pod(1), "veth1", ""); ip != want["uid-1"] {
		t.Fatalf("pod 1 got %v after reopen, had %v", ip, want["uid-1"])
	}
	n, _ := m2.Allocate(pod(100), "", "")
	for _, ip := range want {
		if ip == n {
			t.Fatalf("new allocation %v collides with a persisted one", n)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-10.244.1.200-abcd")); !os.IsNotExist(err) {
		t.Fatal("stale temp file not removed on open")
	}
}

func TestIPAMGCAndForeignRecords(t *testing.T) {
	dir := t.TempDir()
	m := openT(t, dir, "10.244.2.0/24")
	for i := 0; i < 6; i++ {
		if _, err := m.Allocate(pod(i), "", ""); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	// A corrupt record and one from an old PodCIDR.
	os.WriteFile(filepath.Join(dir, "10.244.2.250"), []byte("garbage"), 0o600)
	os.WriteFile(filepath.Join(dir, "10.9.0.5"), []byte(`{"ip":"10.9.0.5","pod":{"namespace":"a","name":"b","uid":"uid-1"}}`), 0o600)

	m2 := openT(t, dir, "10.244.2.0/24")
	if n := len(m2.ListAllocated()); n != 8 {
		t.Fatalf("%d allocations after reopen, want 8", n)
	}
	live := map[string]bool{"uid-1": true, "uid-3": true}
	freed, err := m2.GC(func(p PodRef) bool { return live[p.UID] })
	if err != nil {
		t.Fatal(err)
	}
	// uid-0,2,4,5, the corrupt record and uid-1's old-CIDR record go.
	if len(freed) != 6 {
		t.Fatalf("GC freed %d: %+v", len(freed), freed)
	}
	if a, ok := m2.Lookup("uid-1"); !ok || !m2.Prefix().Contains(a.IP) {
		t.Fatalf("uid-1 after GC: %+v", a)
	}
	rest := m2.ListAllocated()
	if len(rest) != 2 {
		t.Fatalf("after GC %+v, want uid-1 and uid-3 in 10.244.2.0/24", rest)
	}
	for _, a := range rest {
		if !live[a.Pod.UID] {
			t.Fatalf("GC kept %+v", a)
		}
	}
	entries, _ := os.ReadDir(dir)
	files := 0
	for _, e := range entries {
		if e.Name() != ".lock" {
			files++
		}
	}
	if files != len(rest) {
		t.Fatalf("%d files on disk, %d allocations in memory", files, len(rest))
	}
}

func TestIPAMRejectsBadCIDR(t *testing.T) {
	for _, c := range []string{"fd00::/64", "10.0.0.0/31"} {
		if _, err := OpenIPAM(t.TempDir(), netip.MustParsePrefix(c)); err == nil {
			t.Errorf("%s accepted", c)
		}
	}
	if _, err := OpenIPAM(t.TempDir(), netip.Prefix{}); err == nil {
		t.Error("zero prefix accepted")
	}
}

func TestIPAMConcurrentAllocate(t *testing.T) {
	m := openT(t, t.TempDir(), "10.244.4.0/24")
	const n = 100
	ips := make(chan netip.Addr, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			ip, err := m.Allocate(pod(i), "", "")
			ips <- ip
			errs <- err
		}()
	}
	seen := map[netip.Addr]bool{}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		ip := <-ips
		if seen[ip] {
			t.Fatalf("%v handed out twice", ip)
		}
		seen[ip] = true
	}
	if len(m.ListAllocated()) != n {
		t.Fatalf("%d allocations, want %d", len(m.ListAllocated()), n)
	}
}
