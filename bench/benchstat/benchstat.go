// Package benchstat holds what Skiff's benchmarks share for reporting: a
// latency distribution (p50, p99, max in milliseconds) made from samples,
// and writing a result as indented JSON.
package benchstat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Samples int     `json:"samples"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// Summarize sorts a copy of d and returns its distribution (zero for none).
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	q := func(p float64) float64 { return ms(s[int(p*float64(len(s)-1))]) }
	return Summary{Samples: len(s), P50ms: q(0.50), P99ms: q(0.99), MaxMs: ms(s[len(s)-1])}
}

// WriteJSON writes v to path as indented JSON, creating its directory.
func WriteJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
