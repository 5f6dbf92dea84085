package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scim-stream/scim-stream/wire"
)

// Metrics are the collector's Prometheus metrics, labelled by tenant and collector type.
//
// Every series of a tenant exists from the moment the tenant starts (zero values), so that alerts on rates and
// on absent successes work before the first collection ends. To add a metric: a field, its constructor in
// NewMetrics, and its label values in start (and stop).
type Metrics struct {
	collections *prometheus.CounterVec
	running     *prometheus.GaugeVec
	lastRun     *prometheus.GaugeVec
	lastOK      *prometheus.GaugeVec
	duration    *prometheus.GaugeVec
	seen        *prometheus.CounterVec
	changed     *prometheus.CounterVec
	published   *prometheus.CounterVec
	failedRecs  *prometheus.CounterVec
	errors      *prometheus.CounterVec
	safety      *safetyMetrics
	leader      *prometheus.GaugeVec
}

// NewMetrics registers the collector metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"tenant", "type"}
	m := &Metrics{
		collections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_collections_total",
			Help: "Collections that ended (successful or not)."}, labels),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimstream_tenant_running",
			Help: "1 while the tenant's collector runs; its series disappear when the tenant is removed."}, labels),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimstream_collection_last_timestamp_seconds",
			Help: "Unix time the last collection ended."}, labels),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimstream_collection_last_success_timestamp_seconds",
			Help: "Unix time the last successful collection ended."}, labels),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimstream_collection_duration_seconds",
			Help: "Duration of the last collection."}, labels),
		seen: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_users_seen_total",
			Help: "Records received from the source."}, labels),
		changed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_users_changed_total",
			Help: "Users whose mapped value changed."}, labels),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_messages_published_total",
			Help: "Messages published and acknowledged by JetStream."}, labels),
		failedRecs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_users_failed_total",
			Help: "Records skipped because they could not be mapped."}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_collection_errors_total",
			Help: "Collections that ended with an error."}, labels),
	}
	m.leader = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimstream_collector_leader",
		Help: "1 on the node that holds the collector lease of (tenant, type) and collects it, 0 on the others."}, labels)
	reg.MustRegister(m.leader)
	reg.MustRegister(m.collections, m.running, m.lastRun, m.lastOK, m.duration, m.seen, m.changed, m.published, m.failedRecs, m.errors)
	m.safety = newSafetyMetrics(reg)
	return m
}

// start creates every series of a tenant with its zero value.
func (m *Metrics) start(tenant string, typ wire.Type) {
	if m == nil {
		return
	}
	l := []string{tenant, string(typ)}
	for _, c := range []*prometheus.CounterVec{m.collections, m.seen, m.changed, m.published, m.failedRecs, m.errors} {
		c.WithLabelValues(l...)
	}
	for _, g := range []*prometheus.GaugeVec{m.lastRun, m.lastOK, m.duration} {
		g.WithLabelValues(l...)
	}
	m.running.WithLabelValues(l...).Set(1)
	m.safety.each(func(c prometheus.Collector) { withLabels(c, l, false) })
}

// stop removes a removed tenant's series.
func (m *Metrics) stop(tenant string, typ wire.Type) {
	if m == nil {
		return
	}
	l := []string{tenant, string(typ)}
	for _, c := range []*prometheus.CounterVec{m.collections, m.seen, m.changed, m.published, m.failedRecs, m.errors} {
		c.DeleteLabelValues(l...)
	}
	for _, g := range []*prometheus.GaugeVec{m.running, m.lastRun, m.lastOK, m.duration, m.leader} {
		g.DeleteLabelValues(l...)
	}
	m.safety.each(func(c prometheus.Collector) { withLabels(c, l, true) })
}

// withLabels creates (or, with remove, deletes) the series of labels l in a counter or gauge vector.
func withLabels(c prometheus.Collector, l []string, remove bool) {
	switch v := c.(type) {
	case *prometheus.CounterVec:
		if remove {
			v.DeleteLabelValues(l...)
		} else {
			v.WithLabelValues(l...)
		}
	case *prometheus.GaugeVec:
		if remove {
			v.DeleteLabelValues(l...)
		} else {
			v.WithLabelValues(l...)
		}
	}
}

func (m *Metrics) failed(t *Tenant) {
	m.failedRecs.WithLabelValues(t.Name, string(t.Type)).Inc()
}

// observe records a finished collection (the per-record failures were counted as they happened).
func (m *Metrics) observe(t *Tenant, s Stats, err error, end time.Time) {
	if m == nil {
		return
	}
	l := []string{t.Name, string(t.Type)}
	m.collections.WithLabelValues(l...).Inc()
	m.lastRun.WithLabelValues(l...).Set(float64(end.Unix()))
	m.duration.WithLabelValues(l...).Set(s.Duration.Seconds())
	m.seen.WithLabelValues(l...).Add(float64(s.Seen))
	m.changed.WithLabelValues(l...).Add(float64(s.Changed))
	m.published.WithLabelValues(l...).Add(float64(s.Published))
	if err != nil {
		m.errors.WithLabelValues(l...).Inc()
		return
	}
	m.lastOK.WithLabelValues(l...).Set(float64(end.Unix()))
}
