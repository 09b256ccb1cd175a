package controlbench

import (
	"fmt"
	"github.com/skiffnet/skiff/bench/benchstat"
	"io"
	"time"
)

// Targets from the API server issue; reported, never asserted.
const (
	TargetPodsPerSecond = 100
	TargetRSSBytes      = 300 << 20 // at 10 000 pods
)

// Summary is a latency distribution in milliseconds.
type Summary = benchstat.Summary

// PublicConfig is the run shape as written to JSON.
type PublicConfig struct {
	Nodes       int   `json:"nodes"`
	Deployments int   `json:"deployments"`
	Replicas    int32 `json:"replicas"`
	Workers     int   `json:"workers"`
}

func (c Config) public() PublicConfig {
	return PublicConfig{Nodes: c.Nodes, Deployments: c.Deployments, Replicas: c.Replicas, Workers: c.Workers}
}

// Result is one run (schema skiff-controlbench/v1).
type Result struct {
	Schema        string       `json:"schema"`
	Started       time.Time    `json:"started"`
	Finished      time.Time    `json:"finished"`
	Config        PublicConfig `json:"config"`
	Pods          int          `json:"pods"`
	BindSeconds   float64      `json:"bind_seconds"`
	PodsPerSecond float64      `json:"pods_per_second"`
	Create        Summary      `json:"create_deployment"`
	List          Summary      `json:"list_500_pods"`
	WatchDelivery Summary      `json:"watch_delivery"`
	IdleRSS       int64        `json:"server_rss_idle_bytes"`
	RSS           int64        `json:"server_rss_bytes"`
	PeakRSS       int64        `json:"server_rss_peak_bytes"`
	RSSAnon       int64        `json:"server_rss_anon_bytes"`
	RSSFile       int64        `json:"server_rss_file_bytes"`
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// WriteTable prints the human report.
func (r *Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Skiff control-plane bench — %d hollow nodes, %d Deployments × %d replicas = %d pods\n\n",
		r.Config.Nodes, r.Config.Deployments, r.Config.Replicas, r.Pods)
	verdict := func(ok bool) string {
		if ok {
			return "meets target"
		}
		return "misses target"
	}
	fmt.Fprintf(w, "  %-34s %10.0f        (target ≥ %d: %s)\n", "pods scheduled and bound per second",
		r.PodsPerSecond, TargetPodsPerSecond, verdict(r.PodsPerSecond >= TargetPodsPerSecond))
	fmt.Fprintf(w, "  %-34s %10.1f s\n", "time to bind every pod", r.BindSeconds)
	fmt.Fprintf(w, "\n  %-34s %10s %10s %10s %8s\n", "latency (ms)", "p50", "p99", "max", "samples")
	for _, row := range []struct {
		name string
		s    Summary
	}{{"create Deployment", r.Create}, {"list one page of 500 pods", r.List}, {"watch delivery (create → event)", r.WatchDelivery}} {
		fmt.Fprintf(w, "  %-34s %10.2f %10.2f %10.2f %8d\n", row.name, row.s.P50ms, row.s.P99ms, row.s.MaxMs, row.s.Samples)
	}
	fmt.Fprintf(w, "\n  %-34s %10.0f MiB\n", "server RSS idle", mib(r.IdleRSS))
	fmt.Fprintf(w, "  %-34s %10.0f MiB  (target < %d MiB at 10 000 pods: %s)\n", fmt.Sprintf("server RSS at %d pods", r.Pods),
		mib(r.RSS), TargetRSSBytes>>20, verdict(r.RSS < TargetRSSBytes))
	fmt.Fprintf(w, "  %-34s %10.0f MiB anonymous + %.0f MiB file-backed (the mapped skiff executable, etcd's db)\n", "  of which", mib(r.RSSAnon), mib(r.RSSFile))
	fmt.Fprintf(w, "  %-34s %10.0f MiB\n", "server RSS peak", mib(r.PeakRSS))
}

// WriteJSON writes the result to path, creating its directory.
func (r *Result) WriteJSON(path string) error { return benchstat.WriteJSON(path, r) }
