package agentclean

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The prefix must be the kubelet's (control/kubelet New: "skiff-" plus the
// first 4 bytes of the node name's SHA-256 in hex).
func TestNetnsPrefix(t *testing.T) {
	sum := sha256.Sum256([]byte("node-a"))
	want := "skiff-" + hex.EncodeToString(sum[:4]) + "-"
	if got := NetnsPrefix("node-a"); got != want || !strings.HasSuffix(got, "-") || len(got) != len("skiff-")+9 {
		t.Fatalf("NetnsPrefix = %q, want %q", got, want)
	}
	if NetnsPrefix("node-a") == NetnsPrefix("node-b") {
		t.Fatal("two nodes share a prefix")
	}
}

func TestShimSocketsOfThisAgentOnly(t *testing.T) {
	dir, sockDir := t.TempDir(), t.TempDir()
	write := func(id, content string) {
		d := filepath.Join(dir, "containerd", "state", "io.containerd.runtime.v2.task", "skiff", id)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "address"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "unix://"+filepath.Join(sockDir, "aaa"))
	write("b", "unix://"+filepath.Join(sockDir, "aaa")) // same shim (one pod's two containers)
	write("c", "unix://"+filepath.Join(sockDir, "ccc")+"\n")
	write("d", "unix:///elsewhere/ddd") // not a shim socket directory: never removed
	got := shimSockets(dir, sockDir)
	want := []string{filepath.Join(sockDir, "aaa"), filepath.Join(sockDir, "ccc")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("shimSockets = %v, want %v", got, want)
	}
}

// Empty "skiff" cgroups go, children first; one holding something stays
// (rmdir refuses a non-empty directory as it refuses a cgroup with a
// process), and so do its parents and every other cgroup.
func TestRemoveEmptyCgroups(t *testing.T) {
	root := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk("cpu/skiff/ctr-a")
	mk("memory/skiff/ctr-b")
	mk("memory/skiff/ctr-c")
	mk("memory/other/ctr-d")
	if err := os.WriteFile(filepath.Join(root, "memory/skiff/ctr-c/cgroup.procs"), []byte("42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	removeEmptyCgroups(root)
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(root, p)); return err == nil }
	for p, want := range map[string]bool{
		"cpu/skiff": false, "memory/skiff/ctr-b": false,
		"memory/skiff/ctr-c": true, "memory/skiff": true, "memory/other/ctr-d": true, "cpu": true,
	} {
		if exists(p) != want {
			t.Errorf("%s exists = %v, want %v", p, !want, want)
		}
	}
}
