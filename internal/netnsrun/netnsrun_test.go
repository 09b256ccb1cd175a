package netnsrun

import (
	"os"
	"testing"

	"github.com/vishvananda/netns"
)

// Running in the current namespace works without privileges and leaves the
// caller's namespace as it was; entering another one needs root (covered by
// the packages that use this one).
func TestInCurrentNamespace(t *testing.T) {
	before, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Skip("no /proc/thread-self:", err)
	}
	cur, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close()
	var inside string
	if err := In(cur, func() error {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside != before {
		t.Fatalf("ran in %s, want %s", inside, before)
	}
	if err := InPath("/nonexistent/netns", func() error { return nil }); err == nil {
		t.Fatal("a missing namespace path must fail")
	}
}
