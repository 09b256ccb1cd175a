package nodelocal

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRelayReemitsMetrics(t *testing.T) {
	src := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_queries_total", Help: "q"}, []string{"proto"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "t_steering", Help: "s"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "t_seconds", Help: "l", Buckets: []float64{0.1, 1}})
	src.MustRegister(c, g, h)
	c.WithLabelValues("udp").Add(3)
	g.Set(1)
	h.Observe(0.05)
	h.Observe(0.5)

	r := &relay{}
	out := prometheus.NewRegistry()
	out.MustRegister(r)
	if mfs, err := out.Gather(); err != nil || len(mfs) != 0 {
		t.Fatalf("relay without a source gathered %v %v", mfs, err)
	}
	r.set(src)
	mfs, err := out.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch mf.GetName() {
		case "t_queries_total":
			got["c"] = m.GetCounter().GetValue() == 3 && m.GetLabel()[0].GetValue() == "udp"
		case "t_steering":
			got["g"] = m.GetGauge().GetValue() == 1
		case "t_seconds":
			hh := m.GetHistogram()
			got["h"] = hh.GetSampleCount() == 2 && hh.GetBucket()[0].GetCumulativeCount() == 1 && hh.GetBucket()[1].GetCumulativeCount() == 2
		}
	}
	if !got["c"] || !got["g"] || !got["h"] {
		t.Fatalf("relayed metrics wrong: %v (%v)", got, mfs)
	}
}
