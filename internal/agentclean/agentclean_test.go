package agentclean

import (
	"crypto/sha256"
	"encoding/hex"
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
