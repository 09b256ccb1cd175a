package podbench

import (
	"fmt"
	"github.com/skiffnet/skiff/bench/benchstat"
	"io"
	"time"
)

// Targets from the agent issue; reported, never asserted.
const (
	TargetP50ms    = 1000
	TargetRSSBytes = 100 << 20
)

// Summary is a latency distribution in milliseconds.
type Summary = benchstat.Summary

// Result is one run (schema skiff-podbench/v2).
type Result struct {
	Schema        string    `json:"schema"`
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished"`
	Pods          int       `json:"pods"`
	Bound         Summary   `json:"create_to_bound"`
	Running       Summary   `json:"create_to_running"`
	Ready         Summary   `json:"create_to_ready"`
	AgentRSSIdle  int64     `json:"agent_rss_idle_bytes"`
	AgentRSS      int64     `json:"agent_rss_bytes"`
	AgentRSSPeak  int64     `json:"agent_rss_peak_bytes"`
	AgentRSSAnon  int64     `json:"agent_rss_anon_bytes"`
	AgentRSSFile  int64     `json:"agent_rss_file_bytes"`
	ContainerdRSS int64     `json:"containerd_rss_bytes"`
	// CPUPerPodMs is the CPU the bursts took, per pod started.
	CPUPerPodMs CPUShare `json:"cpu_per_pod_ms"`
	Rounds      []Round  `json:"rounds"`
}

// Round is one burst of Pods pods.
type Round struct {
	Ready       Summary  `json:"create_to_ready"`
	BurstMs     int64    `json:"burst_ms"` // first create to last pod Ready
	CPUPerPodMs CPUShare `json:"cpu_per_pod_ms"`
}

// CPUShare splits CPU time (ms) among the processes that spent it.
type CPUShare struct {
	Machine    float64 `json:"machine"` // every process: the rest are parts of it
	Server     float64 `json:"skiff_server"`
	Agent      float64 `json:"skiff_agent"`
	Containerd float64 `json:"containerd"`
}

// Others is what neither skiff nor containerd itself spent: the shims,
// runc, the pods' own processes, the kernel's threads, the bench client.
func (c CPUShare) Others() float64 { return c.Machine - c.Server - c.Agent - c.Containerd }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func verdict(ok bool) string {
	if ok {
		return "meets target"
	}
	return "misses target"
}

// WriteTable prints the human report.
func (r *Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Skiff pod start bench — %d pods created at once on one node, image already present; %d bursts, pooled\n\n", r.Pods, len(r.Rounds))
	fmt.Fprintf(w, "  %-28s %10s %10s %10s\n", "latency (ms)", "p50", "p99", "max")
	fmt.Fprintf(w, "  %-28s %10.0f %10.0f %10.0f\n", "create → bound to the node", r.Bound.P50ms, r.Bound.P99ms, r.Bound.MaxMs)
	fmt.Fprintf(w, "  %-28s %10.0f %10.0f %10.0f\n", "create → Running", r.Running.P50ms, r.Running.P99ms, r.Running.MaxMs)
	fmt.Fprintf(w, "  %-28s %10.0f %10.0f %10.0f   (target p50 < %d ms: %s)\n", "create → Ready", r.Ready.P50ms, r.Ready.P99ms, r.Ready.MaxMs,
		TargetP50ms, verdict(r.Ready.P50ms < TargetP50ms))
	for i, rd := range r.Rounds {
		fmt.Fprintf(w, "    %-26s %10.0f %10.0f %10.0f   (all Ready %d ms after the first create)\n", fmt.Sprintf("burst %d: create → Ready", i+1),
			rd.Ready.P50ms, rd.Ready.P99ms, rd.Ready.MaxMs, rd.BurstMs)
	}
	c := r.CPUPerPodMs
	fmt.Fprintf(w, "  %-28s %10.0f ms per pod: skiff server %.0f, skiff agent %.0f, containerd %.0f, shims, runc and the rest %.0f\n",
		"CPU in the bursts", c.Machine, c.Server, c.Agent, c.Containerd, c.Others())
	fmt.Fprintf(w, "\n  %-28s %10.0f MiB\n", "agent RSS idle", mib(r.AgentRSSIdle))
	fmt.Fprintf(w, "  %-28s %10.0f MiB   (target < %d MiB: %s)\n", fmt.Sprintf("agent RSS with %d pods", r.Pods), mib(r.AgentRSS),
		TargetRSSBytes>>20, verdict(r.AgentRSS < TargetRSSBytes))
	fmt.Fprintf(w, "  %-28s %10.0f MiB anonymous + %.0f MiB file-backed (the mapped skiff executable)\n", "  of which", mib(r.AgentRSSAnon), mib(r.AgentRSSFile))
	fmt.Fprintf(w, "  %-28s %10.0f MiB\n", "agent RSS peak", mib(r.AgentRSSPeak))
	fmt.Fprintf(w, "  %-28s %10.0f MiB\n", "containerd RSS", mib(r.ContainerdRSS))
}

// WriteJSON writes the result to path, creating its directory.
func (r *Result) WriteJSON(path string) error { return benchstat.WriteJSON(path, r) }
