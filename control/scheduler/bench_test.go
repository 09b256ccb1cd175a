package scheduler

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// BenchmarkSchedule100Nodes10kPods measures end-to-end scheduling throughput
// (informer → queue → filter/score → pods/binding) against the fake
// clientset: 100 nodes, 10 000 pending pods from 1 000 owners.
func BenchmarkSchedule100Nodes10kPods(b *testing.B) {
	const nodes, pods = 100, 10000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		objs := make([]runtime.Object, 0, nodes+pods)
		for n := range nodes {
			objs = append(objs, mkNode(fmt.Sprintf("node-%03d", n), "32", "128Gi", 250))
		}
		for p := range pods {
			objs = append(objs, mkPod(fmt.Sprintf("pod-%05d", p), "100m", "128Mi", ownedBy(fmt.Sprintf("rs-%d", p/10))))
		}
		b.StartTimer()
		start := time.Now()
		h := startSchedulerWatch(b, 0, true, objs...)
		waitForN(b, h, pods)
		elapsed := time.Since(start)
		b.StopTimer()
		h.cancel()
		b.ReportMetric(float64(pods)/elapsed.Seconds(), "pods/s")
		b.StartTimer()
	}
}

func waitForN(b *testing.B, h *harness, n int64) {
	deadline := time.Now().Add(5 * time.Minute)
	for h.bound.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d pods bound", h.bound.Load(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
