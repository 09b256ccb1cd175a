package dpbench

import (
	"math"
	"sort"
	"time"
)

// Summary is the median, min and max of a set of samples.
type Summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"samples"`
}

// Summarize returns the summary of xs; ok is false for no samples. The
// median of an even count is the mean of the two middle values.
func Summarize(xs []float64) (Summary, bool) {
	if len(xs) == 0 {
		return Summary{}, false
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	med := s[m]
	if len(s)%2 == 0 {
		med = (s[m-1] + s[m]) / 2
	}
	return Summary{Median: med, Min: s[0], Max: s[len(s)-1], N: len(s)}, true
}

// Ratios divides each sample by the direct path's sample of the same
// repetition. Repetitions missing on either side, or with a zero direct
// value, are skipped.
func Ratios(mode, direct map[int]float64) []float64 {
	var out []float64
	for rep, v := range mode {
		d, ok := direct[rep]
		if !ok || d == 0 || math.IsNaN(d) {
			continue
		}
		out = append(out, v/d)
	}
	sort.Float64s(out)
	return out
}

// Percentile returns the p-th percentile (0..100) of ds by the
// nearest-rank method; ds need not be sorted. Zero for no samples.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}
