package dpbench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Schema names the JSON layout documented in bench/README.md.
const Schema = "skiff-dpbench/v1"

// Results is the JSON document bench/results/latest.json.
type Results struct {
	Schema   string     `json:"schema"`
	Started  time.Time  `json:"started"`
	Finished time.Time  `json:"finished"`
	Kernel   string     `json:"kernel"`
	CPUs     int        `json:"cpus"`
	Prefix   string     `json:"topology_prefix"`
	Config   ConfigJSON `json:"config"`
	Modes    []string   `json:"modes"`
	Metrics  []MetricJS `json:"metrics"`
	Notes    []string   `json:"notes,omitempty"`
	Rows     []Row      `json:"results"`
}

// ConfigJSON records how the run was made.
type ConfigJSON struct {
	Services            []int   `json:"services"`
	Reps                int     `json:"reps"`
	EndpointsPerService int     `json:"endpoints_per_service"`
	Clients             int     `json:"clients"`
	ConnSeconds         float64 `json:"conn_seconds"`
	LatencySeconds      float64 `json:"latency_seconds"`
	ThroughputSeconds   float64 `json:"throughput_seconds"`
	LoadTimeoutSeconds  float64 `json:"load_timeout_seconds"`
	ReloadMaxSeconds    float64 `json:"reload_max_seconds"`
}

// MetricJS describes a metric in the JSON.
type MetricJS struct {
	Name         string `json:"name"`
	Title        string `json:"title"`
	Unit         string `json:"unit"`
	HigherBetter bool   `json:"higher_is_better"`
}

// Row is one mode at one service count.
type Row struct {
	Mode     string                 `json:"mode"`
	Services int                    `json:"services"`
	Missing  string                 `json:"missing,omitempty"`
	Metrics  map[string]MetricValue `json:"metrics,omitempty"`
}

// MetricValue is one metric's summary; RatioToDirect pairs each repetition
// with the direct path's value of the same repetition (absent for metrics
// the direct path does not have).
type MetricValue struct {
	Summary
	Samples       []float64 `json:"values"`
	RatioToDirect *Summary  `json:"ratio_to_direct,omitempty"`
}

func buildResults(cfg Config, col *collector, modes []string, started time.Time, prefix string) *Results {
	r := &Results{
		Prefix: prefix, Schema: Schema, Started: started.UTC(), Finished: time.Now().UTC(), Kernel: kernelRelease(), CPUs: runtime.NumCPU(),
		Config: ConfigJSON{
			Services: cfg.Services, Reps: cfg.Reps, EndpointsPerService: 3, Clients: cfg.Clients,
			ConnSeconds: cfg.ConnDur.Seconds(), LatencySeconds: cfg.LatDur.Seconds(), ThroughputSeconds: cfg.TputDur.Seconds(),
			LoadTimeoutSeconds: cfg.LoadTimeout.Seconds(), ReloadMaxSeconds: cfg.ReloadMax.Seconds(),
		},
		Modes: modes, Notes: col.notes,
	}
	for _, m := range Metrics {
		r.Metrics = append(r.Metrics, MetricJS{m.Name, m.Title, m.Unit, m.HigherBetter})
	}
	for _, mode := range modes {
		for _, n := range cfg.Services {
			row := Row{Mode: mode, Services: n}
			if reason, ok := col.missing[mode][n]; ok {
				row.Missing = reason
				r.Rows = append(r.Rows, row)
				continue
			}
			row.Metrics = map[string]MetricValue{}
			for _, m := range Metrics {
				byRep := col.samples[mode][n][m.Name]
				reps := make([]int, 0, len(byRep))
				for rep := range byRep {
					reps = append(reps, rep)
				}
				sort.Ints(reps)
				var xs []float64
				for _, rep := range reps {
					xs = append(xs, byRep[rep])
				}
				s, ok := Summarize(xs)
				if !ok {
					continue
				}
				v := MetricValue{Summary: s, Samples: xs}
				if m.Direct {
					if rs, ok := Summarize(Ratios(byRep, col.samples[directName][n][m.Name])); ok {
						v.RatioToDirect = &rs
					}
				}
				row.Metrics[m.Name] = v
			}
			if len(row.Metrics) == 0 {
				row.Missing = "no samples (the run stopped before this mode was measured)"
				row.Metrics = nil
			}
			r.Rows = append(r.Rows, row)
		}
	}
	return r
}

// WriteJSON writes r to path, creating its directory.
func (r *Results) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func (r *Results) row(mode string, n int) *Row {
	for i := range r.Rows {
		if r.Rows[i].Mode == mode && r.Rows[i].Services == n {
			return &r.Rows[i]
		}
	}
	return nil
}

// PrintTable writes one table per metric: rows are modes, columns service
// counts, cells "median [min–max] ×ratio-to-direct".
func (r *Results) PrintTable(w io.Writer) {
	fmt.Fprintf(w, "Skiff dataplane bench — %d reps, %d endpoints/service, kernel %s, %d CPUs; cells: median [min–max] ×median ratio to direct in the same rep\n",
		r.Config.Reps, r.Config.EndpointsPerService, r.Kernel, r.CPUs)
	width := 0
	for _, m := range r.Modes {
		width = max(width, len(m))
	}
	for _, mi := range Metrics {
		fmt.Fprintf(w, "\n%s (%s)\n", mi.Title, mi.Unit)
		cells := map[string][]string{}
		colw := make([]int, len(r.Config.Services))
		for _, mode := range r.Modes {
			for k, n := range r.Config.Services {
				c := cell(r.row(mode, n), mi)
				cells[mode] = append(cells[mode], c)
				colw[k] = max(colw[k], runeLen(c), len(fmt.Sprintf("N=%d", n)))
			}
		}
		fmt.Fprintf(w, "  %-*s", width, "mode")
		for k, n := range r.Config.Services {
			fmt.Fprintf(w, "  %-*s", colw[k], fmt.Sprintf("N=%d", n))
		}
		fmt.Fprintln(w)
		for _, mode := range r.Modes {
			fmt.Fprintf(w, "  %-*s", width, mode)
			for k, c := range cells[mode] {
				fmt.Fprintf(w, "  %s%s", c, strings.Repeat(" ", colw[k]-runeLen(c)))
			}
			fmt.Fprintln(w)
		}
	}
	var missing []string
	for _, row := range r.Rows {
		if row.Missing != "" {
			missing = append(missing, fmt.Sprintf("  %s N=%d: %s", row.Mode, row.Services, row.Missing))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintln(w, "\nmissing:")
		fmt.Fprintln(w, strings.Join(missing, "\n"))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

func runeLen(s string) int { return len([]rune(s)) }

func cell(row *Row, mi MetricInfo) string {
	if row == nil || row.Missing != "" {
		return "missing"
	}
	v, ok := row.Metrics[mi.Name]
	if !ok {
		return "-"
	}
	s := fmt.Sprintf("%s [%s–%s]", num(v.Median), num(v.Min), num(v.Max))
	if v.RatioToDirect != nil {
		s += fmt.Sprintf(" ×%.2f", v.RatioToDirect.Median)
	}
	return s
}

// num prints with three significant digits or as an integer when large.
func num(x float64) string {
	switch {
	case x >= 1000:
		return fmt.Sprintf("%.0f", x)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}
