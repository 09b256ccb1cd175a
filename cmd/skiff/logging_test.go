package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// Lines the Kubernetes libraries log through klog come out as slog lines.
func TestKlogGoesThroughSlog(t *testing.T) {
	old := slog.Default()
	defer func() { slog.SetDefault(old); klog.ClearLogger() }()
	var buf bytes.Buffer
	setupLogging(&buf, slog.LevelInfo)
	klog.ErrorS(errors.New("connection refused"), "error retrieving resource lock", "lock", "kube-system/x")
	klog.V(4).InfoS("chatty detail")
	klog.Flush()
	out := buf.String()
	for _, want := range []string{"level=ERROR", `msg="error retrieving resource lock"`, `err="connection refused"`, "lock=kube-system/x"} {
		if !strings.Contains(out, want) {
			t.Errorf("klog line lacks %q: %q", want, out)
		}
	}
	if strings.Contains(out, "chatty detail") {
		t.Errorf("klog V(4) line came through at level info: %q", out)
	}
}
