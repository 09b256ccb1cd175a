package podbench

import (
	"bytes"
	"github.com/skiffnet/skiff/bench/benchstat"
	"strings"
	"testing"
	"time"
)

func TestSummarizeAndTable(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 30; i++ {
		d = append(d, time.Duration(i*100)*time.Millisecond)
	}
	s := benchstat.Summarize(d)
	if s.Samples != 30 || s.P50ms != 1500 || s.MaxMs != 3000 {
		t.Fatalf("summary %+v", s)
	}
	r := &Result{Pods: 30, Ready: s, Running: s, AgentRSS: 80 << 20, CPUPerPodMs: CPUShare{Machine: 91.5, Server: 15, Agent: 14, Containerd: 9},
		Rounds: []Round{{Ready: s, BurstMs: 3100}, {Ready: s, BurstMs: 3200}}}
	var b bytes.Buffer
	r.WriteTable(&b)
	for _, want := range []string{"30 pods", "2 bursts, pooled", "all Ready 3200 ms after the first create", "92 ms per pod: skiff server 15, skiff agent 14, containerd 9, shims, runc and the rest 54", "(target p50 < 1000 ms: misses target)", "(target < 100 MiB: meets target)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
