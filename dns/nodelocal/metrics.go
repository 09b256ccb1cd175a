package nodelocal

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// dns/server registers its collectors with MustRegister, so a second server
// on one registry would panic. When Config.Registry is nil each Start gives
// its server a private registry and the default registry shows the newest
// one (also after its Stop, so counters do not vanish) through exported,
// registered once per process. Start may then run
// again after a Stop (an agent restarting its DNS server) without a panic.
var (
	exported     = &relay{}
	exportedOnce sync.Once
)

// relay is an unchecked collector that re-emits the metrics of the current
// gatherer as constant metrics.
type relay struct {
	mu sync.Mutex
	g  prometheus.Gatherer
}

func (r *relay) set(g prometheus.Gatherer) {
	r.mu.Lock()
	r.g = g
	r.mu.Unlock()
}

// Describe sends nothing: the metric set changes with the server.
func (r *relay) Describe(chan<- *prometheus.Desc) {}

func (r *relay) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	g := r.g
	r.mu.Unlock()
	if g == nil {
		return
	}
	mfs, err := g.Gather()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewDesc("skiff_dns_nodelocal_gather_error", "Gathering the node-local DNS metrics failed.", nil, nil), err)
		return
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if pm := constMetric(mf, m); pm != nil {
				ch <- pm
			}
		}
	}
}

func constMetric(mf *dto.MetricFamily, m *dto.Metric) prometheus.Metric {
	var names, values []string
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
		values = append(values, l.GetValue())
	}
	desc := prometheus.NewDesc(mf.GetName(), mf.GetHelp(), names, nil)
	var pm prometheus.Metric
	var err error
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		pm, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		pm, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		buckets := make(map[float64]uint64, len(h.GetBucket()))
		for _, b := range h.GetBucket() {
			buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		pm, err = prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
	default:
		return nil // dns/server and this package use no other types
	}
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return pm
}

// registry returns the registry a Start should give its server: cfg's, or
// a private one relayed through the default registry.
func registry(cfg *Config) (reg *prometheus.Registry, relayed bool) {
	if cfg.Registry != nil {
		return cfg.Registry, false
	}
	reg = prometheus.NewRegistry()
	exportedOnce.Do(func() { prometheus.MustRegister(exported) })
	return reg, true
}
