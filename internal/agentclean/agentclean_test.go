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
