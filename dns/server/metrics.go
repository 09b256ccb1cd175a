package server

import (
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors.
type metrics struct {
	queries   *prometheus.CounterVec
	responses *prometheus.CounterVec
	cache     *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	panics    prometheus.Counter

	// Pre-resolved children for the hot path (WithLabelValues hashes on
	// every call).
	queryC   map[string]prometheus.Counter // proto+"/"+type
	rcodeC   map[int]prometheus.Counter
	cacheC   map[string]prometheus.Counter
	latencyO map[string]prometheus.Observer
}

var (
	typeLabels   = []string{"A", "AAAA", "SRV", "PTR", "CNAME", "TXT", "SOA", "NS", "MX", "ANY", "HTTPS", "SVCB", "AXFR", "IXFR", "other"}
	sourceLabels = []string{"cluster", "cache", "forward", "stale", "error"}
)

func (m *metrics) prepare() {
	m.queryC = map[string]prometheus.Counter{}
	for _, p := range []string{"udp", "tcp"} {
		for _, t := range typeLabels {
			m.queryC[p+"/"+t] = m.queries.WithLabelValues(p, t)
		}
	}
	m.rcodeC = map[int]prometheus.Counter{}
	for rc := range 6 { // NOERROR..REFUSED; rarer codes resolve lazily
		m.rcodeC[rc] = m.responses.WithLabelValues(rcodeLabel(rc))
	}
	m.cacheC = map[string]prometheus.Counter{}
	for _, r := range []string{"hit", "miss", "stale"} {
		m.cacheC[r] = m.cache.WithLabelValues(r)
	}
	m.latencyO = map[string]prometheus.Observer{}
	for _, s := range sourceLabels {
		m.latencyO[s] = m.latency.WithLabelValues(s)
	}
}

func (m *metrics) query(proto string, qtype uint16) {
	if c, ok := m.queryC[proto+"/"+typeLabel(qtype)]; ok {
		c.Inc()
		return
	}
	m.queries.WithLabelValues(proto, typeLabel(qtype)).Inc()
}

func (m *metrics) rcode(rc int) {
	if c, ok := m.rcodeC[rc]; ok {
		c.Inc()
		return
	}
	m.responses.WithLabelValues(rcodeLabel(rc)).Inc()
}

func (m *metrics) cacheResult(r string) { m.cacheC[r].Inc() }

func (m *metrics) observe(source string, seconds float64) { m.latencyO[source].Observe(seconds) }

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "queries_total",
			Help: "DNS queries received, by transport and query type.",
		}, []string{"proto", "type"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "responses_total",
			Help: "DNS responses sent, by response code.",
		}, []string{"rcode"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "cache_total",
			Help: "Forwarding cache lookups, by result (hit, miss, stale).",
		}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "request_duration_seconds",
			Help:    "Time to answer a query, by where the answer came from (cluster, cache, forward, error).",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"source"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "panics_total",
			Help: "Queries whose handling panicked and were answered SERVFAIL.",
		}),
	}
	m.prepare()
	if reg != nil {
		reg.MustRegister(m.queries, m.responses, m.cache, m.latency, m.panics)
	}
	return m
}

// typeLabel keeps the type label's cardinality bounded.
func typeLabel(t uint16) string {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeCNAME, dns.TypeTXT,
		dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeANY, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeAXFR, dns.TypeIXFR:
		return dns.TypeToString[t]
	}
	return "other"
}

func rcodeLabel(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "other"
}
