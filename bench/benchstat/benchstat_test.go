package benchstat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if s := Summarize(d); s.Samples != 100 || s.P50ms != 50 || s.P99ms != 99 || s.MaxMs != 100 {
		t.Fatalf("Summarize = %+v", s)
	}
	if d[0] != 100*time.Millisecond {
		t.Fatal("Summarize reordered its input")
	}
	if z := Summarize(nil); z != (Summary{}) {
		t.Fatalf("empty = %+v", z)
	}
}

func TestWriteJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b.json")
	if err := WriteJSON(p, Summary{Samples: 2, P50ms: 1.5}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	var s Summary
	if err := json.Unmarshal(raw, &s); err != nil || s.Samples != 2 || s.P50ms != 1.5 {
		t.Fatalf("round trip %v %s", err, raw)
	}
}
