package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/skiffnet/skiff/bench/controlbench"
)

func init() {
	register("bench-control", "measure the control plane with hollow nodes (pods bound/s, API latency, server RSS)", runBenchControl)
}

// runBenchControl is `make bench-control`.
func runBenchControl(args []string) error {
	fs := flag.NewFlagSet("bench-control", flag.ContinueOnError)
	nodes := fs.Int("nodes", envInt("BENCH_NODES", 100), "hollow nodes (BENCH_NODES)")
	deps := fs.Int("deployments", envInt("BENCH_DEPLOYMENTS", 1000), "Deployments to create (BENCH_DEPLOYMENTS)")
	replicas := fs.Int("replicas", envInt("BENCH_REPLICAS", 10), "replicas per Deployment (BENCH_REPLICAS)")
	out := fs.String("out", envOr("BENCH_OUT", "bench/results/control-latest.json"), "JSON result file (BENCH_OUT)")
	profiles := fs.String("profile-dir", os.Getenv("BENCH_PROFILE_DIR"), "save the server's heap profile and smaps_rollup here at the end (BENCH_PROFILE_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes < 1 || *deps < 1 || *replicas < 1 {
		return fmt.Errorf("--nodes, --deployments and --replicas must be at least 1")
	}
	return runChildBench("control-plane bench", *out, func(ctx context.Context, self string) (benchReport, error) {
		res, err := controlbench.Run(ctx, controlbench.Config{
			Binary: self, Nodes: *nodes, Deployments: *deps, Replicas: int32(*replicas), Logger: slog.Default(),
			ProfileDir: *profiles,
		})
		if err != nil {
			return nil, err
		}
		return res, nil
	})
}

// benchReport is a benchmark result that prints a table and writes JSON.
type benchReport interface {
	WriteTable(w io.Writer)
	WriteJSON(path string) error
}

// runChildBench runs a benchmark whose daemons are children of this very
// binary until done or Ctrl-C, prints its table and writes its JSON to out.
func runChildBench(name, out string, run func(ctx context.Context, self string) (benchReport, error)) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	self, _ = filepath.EvalSymlinks(self)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, self)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	res.WriteTable(os.Stdout)
	if err := res.WriteJSON(out); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", out)
	return nil
}
