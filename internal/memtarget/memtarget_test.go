package memtarget

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestLimitFollowsLiveHeapAboveBase(t *testing.T) {
	const mi = 1 << 20
	cases := []struct{ base, live, want uint64 }{
		{160 * mi, 0, 160 * mi},
		{160 * mi, 100 * mi, 160 * mi},
		{160 * mi, 128 * mi, 160 * mi},
		{160 * mi, 200 * mi, 250 * mi},
		{40 * mi, 400 * mi, 500 * mi},
	}
	for _, c := range cases {
		if got := Limit(c.base, c.live); got != c.want {
			t.Errorf("Limit(%d MiB, %d MiB) = %d MiB, want %d MiB", c.base/mi, c.live/mi, got/mi, c.want/mi)
		}
	}
}

func TestRunSetsAndRespectsOverride(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run sets the limit, then returns at the first tick check

	t.Setenv("GOMEMLIMIT", "")
	Run(ctx, 300<<20, log)
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Fatalf("limit %d after Run with a 300 MiB target", got)
	}
	debug.SetMemoryLimit(prev)
	t.Setenv("GOMEMLIMIT", "1GiB")
	Run(ctx, 300<<20, log)
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Fatalf("GOMEMLIMIT set, yet Run changed the limit to %d", got)
	}
	debug.SetMemoryLimit(prev)
	t.Setenv("GOMEMLIMIT", "")
	Run(ctx, 0, log)
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Fatalf("target 0, yet Run changed the limit to %d", got)
	}
}
