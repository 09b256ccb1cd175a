package controlbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
)

// saveProfiles writes the server's heap profile (from its admin-only
// /debug/pprof) and its /proc smaps_rollup into dir, to explain the RSS the
// benchmark reports: `go tool pprof -sample_index=inuse_space heap.pprof`.
func saveProfiles(ctx context.Context, c kubernetes.Interface, dir string, pid int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	heap, err := c.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/heap").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("get /debug/pprof/heap: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "heap.pprof"), heap, 0o644); err != nil {
		return err
	}
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "smaps_rollup.txt"), smaps, 0o644)
}
