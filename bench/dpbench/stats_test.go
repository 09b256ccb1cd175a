package dpbench

import (
	"math"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	if _, ok := Summarize(nil); ok {
		t.Fatal("empty input must report no summary")
	}
	cases := []struct {
		in            []float64
		med, min, max float64
	}{
		{[]float64{5}, 5, 5, 5},
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
		{[]float64{10, 10, 1, 10, 100}, 10, 1, 100},
	}
	for _, c := range cases {
		in := append([]float64(nil), c.in...)
		s, ok := Summarize(c.in)
		if !ok || s.Median != c.med || s.Min != c.min || s.Max != c.max || s.N != len(c.in) {
			t.Errorf("Summarize(%v) = %+v, want median %v min %v max %v", c.in, s, c.med, c.min, c.max)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("Summarize reordered its input: %v", c.in)
			}
		}
	}
}

func TestRatiosPairByRepetition(t *testing.T) {
	mode := map[int]float64{0: 50, 1: 90, 2: 30, 3: 7}
	direct := map[int]float64{0: 100, 1: 100, 2: 0}
	r := Ratios(mode, direct)
	// rep 2 has a zero direct value and rep 3 no direct sample: skipped.
	if len(r) != 2 || r[0] != 0.5 || r[1] != 0.9 {
		t.Fatalf("Ratios = %v, want [0.5 0.9]", r)
	}
	s, _ := Summarize(r)
	if math.Abs(s.Median-0.7) > 1e-12 {
		t.Fatalf("median ratio %v, want 0.7", s.Median)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	if got := Percentile(ds, 50); got != 50*time.Microsecond {
		t.Errorf("p50 = %v", got)
	}
	if got := Percentile(ds, 99); got != 99*time.Microsecond {
		t.Errorf("p99 = %v", got)
	}
	if got := Percentile(ds, 100); got != 100*time.Microsecond {
		t.Errorf("p100 = %v", got)
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("empty p50 = %v", got)
	}
	if ds[0] != 100*time.Microsecond {
		t.Error("Percentile reordered its input")
	}
}
