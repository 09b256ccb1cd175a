package memtarget

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Headroom is the share of the live heap kept free above it when the live
// heap outgrows the base target.
const Headroom = 0.25

// Parse reads a target such as "160Mi", "1Gi" or "0" (off).
func Parse(s string) (uint64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() < 0 {
		return 0, fmt.Errorf("memory target %q is not a size such as 160Mi, 1Gi or 0 (off)", s)
	}
	return uint64(q.Value()), nil
}

// Limit is the soft memory limit for a live heap of live bytes under base.
func Limit(base, live uint64) uint64 {
	return max(base, live+uint64(float64(live)*Headroom))
}

// Run steers the soft memory limit towards base until ctx ends. It returns
// at once, leaving the runtime alone, when base is 0 or GOMEMLIMIT is set.
func Run(ctx context.Context, base uint64, log *slog.Logger) {
	if base == 0 {
		return
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		log.Info("GOMEMLIMIT is set; the memory target is not applied", "GOMEMLIMIT", v)
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	cur := Limit(base, 0)
	debug.SetMemoryLimit(int64(min(cur, math.MaxInt64)))
	log.Info("memory target set; the garbage collector works harder instead of growing past it",
		"target", mib(base), "override", "--memory-target or GOMEMLIMIT")
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		next := Limit(base, sample[0].Value.Uint64())
		if next == cur {
			continue
		}
		if next > cur+cur/4 || next < cur-cur/4 {
			log.Info("memory limit follows the live heap", "liveHeap", mib(sample[0].Value.Uint64()), "limit", mib(next))
		}
		cur = next
		debug.SetMemoryLimit(int64(min(cur, math.MaxInt64)))
	}
}

func mib(b uint64) string {
	return fmt.Sprintf("%dMiB", b>>20)
}
