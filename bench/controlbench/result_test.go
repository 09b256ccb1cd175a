package controlbench

import (
	"bytes"
	"encoding/json"
	"github.com/skiffnet/skiff/bench/benchstat"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := benchstat.Summarize(d)
	if s.Samples != 100 || s.P50ms != 50 || s.P99ms != 99 || s.MaxMs != 100 {
		t.Fatalf("summarize = %+v", s)
	}
	if z := benchstat.Summarize(nil); z.Samples != 0 {
		t.Fatalf("empty summary = %+v", z)
	}
}

func TestReport(t *testing.T) {
	r := &Result{Schema: "skiff-controlbench/v1", Config: PublicConfig{Nodes: 100, Deployments: 1000, Replicas: 10},
		Pods: 10000, PodsPerSecond: 80, RSS: 200 << 20, Create: Summary{Samples: 3, P50ms: 1.5}}
	var b bytes.Buffer
	r.WriteTable(&b)
	out := b.String()
	for _, want := range []string{"10000 pods", "(target ≥ 100: misses target)", "200 MiB", "meets target", "create Deployment"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	p := filepath.Join(t.TempDir(), "r", "out.json")
	if err := r.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil || back["pods_per_second"].(float64) != 80 {
		t.Fatalf("json round trip: %v %s", err, raw)
	}
}
