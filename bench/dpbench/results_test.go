package dpbench

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testCollector() *collector {
	c := &collector{samples: map[string]map[int]map[string]map[int]float64{}, missing: map[string]map[int]string{}}
	// Direct varies between repetitions; the mode is always 80% of it.
	for rep, d := range []float64{1000, 2000, 4000} {
		c.add(directName, 10, MConnRate, rep, d)
		c.add("skiff", 10, MConnRate, rep, d*0.8)
		c.add("skiff", 10, MProgram, rep, float64(rep+1))
	}
	c.miss("nftables", 10, "nft not installed (run make deps)")
	return c
}

func TestBuildResultsRatiosPairRepetitions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services = []int{10}
	cfg.Reps = 3
	r := buildResults(cfg, testCollector(), []string{directName, "skiff", "nftables"}, time.Now(), "sk000000")
	row := r.row("skiff", 10)
	if row == nil || row.Missing != "" {
		t.Fatalf("skiff row: %+v", row)
	}
	v := row.Metrics[MConnRate]
	if v.Median != 1600 || v.Min != 800 || v.Max != 3200 || len(v.Samples) != 3 {
		t.Fatalf("conn/s summary %+v", v)
	}
	// Pairing by repetition gives exactly 0.8 each time; dividing medians
	// across repetitions would too here, but min/max of the ratio must not
	// mix repetitions (800/4000 = 0.2 would).
	rr := v.RatioToDirect
	if rr == nil || math.Abs(rr.Median-0.8) > 1e-12 || math.Abs(rr.Min-0.8) > 1e-12 || math.Abs(rr.Max-0.8) > 1e-12 {
		t.Fatalf("ratio to direct %+v, want 0.8 in every repetition", rr)
	}
	if p := row.Metrics[MProgram]; p.RatioToDirect != nil || p.Median != 2 {
		t.Fatalf("program time %+v: want median 2 and no ratio (direct has none)", p)
	}
	if m := r.row("nftables", 10); m == nil || !strings.Contains(m.Missing, "nft not installed") {
		t.Fatalf("nftables row %+v, want missing with the reason", m)
	}
	var out bytes.Buffer
	r.PrintTable(&out)
	for _, want := range []string{"1600 [800–3200] ×0.80", "missing", "nft not installed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	dir := t.TempDir()
	if err := r.WriteJSON(filepath.Join(dir, "latest.json")); err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(dir, "latest.png")
	if err := r.WritePNG(pngPath); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 300 {
		t.Fatalf("chart is %v", b)
	}
}
