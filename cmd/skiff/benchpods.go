package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/skiffnet/skiff/bench/podbench"
)

func init() {
	register("bench-pods", "measure pod start latency and agent memory on one real node (needs root)", runBenchPods)
}

// runBenchPods is `make bench-pods`.
func runBenchPods(args []string) error {
	fs := flag.NewFlagSet("bench-pods", flag.ContinueOnError)
	pods := fs.Int("pods", envInt("BENCH_PODS", 30), "pods created at once (BENCH_PODS)")
	rounds := fs.Int("rounds", envInt("BENCH_ROUNDS", 3), "bursts one after another, latencies pooled (BENCH_ROUNDS)")
	archive := fs.String("image", "test/images/out/testapp.tar", "test image archive (from `make images`)")
	out := fs.String("out", envOr("BENCH_OUT", "bench/results/pods-latest.json"), "JSON result file (BENCH_OUT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("bench-pods runs a real agent (containers, network namespaces, BPF): run it as root")
	}
	if *pods < 1 || *rounds < 1 {
		return fmt.Errorf("--pods and --rounds must be at least 1")
	}
	return runChildBench("pod bench", *out, func(ctx context.Context, self string) (benchReport, error) {
		res, err := podbench.Run(ctx, podbench.Config{Binary: self, Archive: *archive, Pods: *pods, Rounds: *rounds, Logger: slog.Default()})
		if err != nil {
			return nil, err
		}
		return res, nil
	})
}
