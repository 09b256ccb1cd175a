package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiffnet/skiff/bench/dpbench"
)

func init() {
	register("bench", "measure the eBPF dataplane against direct, iptables and nftables (needs root)", runBench)
}

// runBench is `make bench`: flags default from BENCH_* environment variables.
func runBench(args []string) error {
	def := dpbench.DefaultConfig()
	if err := checkBenchEnv(); err != nil {
		return err
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	nList := fs.String("n", envOr("BENCH_N", "1,1000,10000"), "comma-separated service counts (BENCH_N); add 100000 for the large run")
	reps := fs.Int("reps", envInt("BENCH_REPS", def.Reps), "repetitions, mode order rotated each time (BENCH_REPS)")
	clients := fs.Int("clients", def.Clients, "concurrent clients in the connection-rate test")
	connDur := fs.Duration("conn-time", envDur("BENCH_CONN_TIME", def.ConnDur), "connection-rate test length (BENCH_CONN_TIME)")
	latDur := fs.Duration("latency-time", envDur("BENCH_LATENCY_TIME", def.LatDur), "latency test length (BENCH_LATENCY_TIME)")
	tputDur := fs.Duration("stream-time", envDur("BENCH_STREAM_TIME", def.TputDur), "throughput test length (BENCH_STREAM_TIME)")
	loadTimeout := fs.Duration("load-timeout", envDur("BENCH_LOAD_TIMEOUT", def.LoadTimeout), "cap on programming all services in one mode (BENCH_LOAD_TIMEOUT)")
	reloadMax := fs.Duration("reload-max", envDur("BENCH_RELOAD_MAX", def.ReloadMax), "modes whose first load is faster than this are re-programmed every rep (BENCH_RELOAD_MAX)")
	large := fs.Bool("large", os.Getenv("BENCH_LARGE") == "1", "also run 100000 services (BENCH_LARGE=1)")
	from := fs.String("from", "", "do not measure: re-print the table and redraw the chart (same name, .png) from a results JSON file")
	out := fs.String("out", envOr("BENCH_OUT", "bench/results"), "directory for latest.json and latest.png (BENCH_OUT)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from != "" {
		return redrawBench(*from)
	}
	cfg := def
	cfg.Reps, cfg.Clients = *reps, *clients
	cfg.ConnDur, cfg.LatDur, cfg.TputDur = *connDur, *latDur, *tputDur
	cfg.LoadTimeout, cfg.ReloadMax = *loadTimeout, *reloadMax
	cfg.Services = nil
	for _, f := range strings.Split(*nList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("service count %q is not a number: give e.g. -n 1,1000,10000", f)
		}
		cfg.Services = append(cfg.Services, n)
	}
	if *large && !slices.Contains(cfg.Services, 100000) {
		cfg.Services = append(cfg.Services, 100000)
	}
	// Ctrl-C / SIGTERM cancel the run; Run removes the topology before returning.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	start := time.Now()
	res, err := dpbench.Run(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; the bench topology was removed: %w", err)
		}
		return err
	}
	res.PrintTable(os.Stdout)
	jsonPath := filepath.Join(*out, "latest.json")
	if err := res.WriteJSON(jsonPath); err != nil {
		return fmt.Errorf("write %s: %w", jsonPath, err)
	}
	pngPath := filepath.Join(*out, "latest.png")
	if err := res.WritePNG(pngPath); err != nil {
		return fmt.Errorf("write %s: %w", pngPath, err)
	}
	slog.Info("bench done", "took", time.Since(start).Round(time.Second), "json", jsonPath, "chart", pngPath)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// redrawBench prints the table of a saved run and redraws its chart.
func redrawBench(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res dpbench.Results
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("%s is not a bench results file: %w", path, err)
	}
	if res.Schema != dpbench.Schema {
		return fmt.Errorf("%s has schema %q, want %q", path, res.Schema, dpbench.Schema)
	}
	res.PrintTable(os.Stdout)
	return res.WritePNG(strings.TrimSuffix(path, ".json") + ".png")
}

// checkBenchEnv rejects malformed BENCH_* numbers and durations instead of
// silently using defaults.
func checkBenchEnv() error {
	for _, k := range []string{"BENCH_REPS"} {
		if v := os.Getenv(k); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return fmt.Errorf("%s=%q: want a positive whole number, e.g. %s=3", k, v, k)
			}
		}
	}
	for _, k := range []string{"BENCH_CONN_TIME", "BENCH_LATENCY_TIME", "BENCH_STREAM_TIME", "BENCH_LOAD_TIMEOUT", "BENCH_RELOAD_MAX"} {
		if v := os.Getenv(k); v != "" {
			if d, err := time.ParseDuration(v); err != nil || d <= 0 {
				return fmt.Errorf("%s=%q: want a positive Go duration, e.g. %s=2s", k, v, k)
			}
		}
	}
	return nil
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envDur(k string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return v
	}
	return def
}
