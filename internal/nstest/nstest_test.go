package nstest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestUniquePrefixFitsInterfaceNames(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		p := UniquePrefix()
		if len(p+"-veth01") > 15 {
			t.Fatalf("prefix %q too long for interface names", p)
		}
		seen[p] = true
	}
	if len(seen) < 95 {
		t.Fatalf("prefixes repeat too often: %d distinct of 100", len(seen))
	}
}

func TestPrivilegedTopologyPingAndCleanup(t *testing.T) {
	RequirePrivileged(t)
	var prefix string
	t.Run("build", func(t *testing.T) {
		tp := New(t)
		prefix = tp.Prefix
		a, err := tp.NS("a")
		if err != nil {
			t.Fatal(err)
		}
		b, err := tp.NS("b")
		if err != nil {
			t.Fatal(err)
		}
		if err := tp.Veth(a, "eth0", "10.250.0.1/30", b, "eth0", "10.250.0.2/30"); err != nil {
			t.Fatal(err)
		}
		a.MustRun(t, "ping", "-c1", "-W2", "10.250.0.2")
	})
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), prefix) {
		t.Fatalf("namespaces with prefix %s left behind:\n%s", prefix, out)
	}
}
