package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collector's Prometheus metrics, labelled by tenant and collector type.
type Metrics struct {
	lastRun    *prometheus.GaugeVec
	lastOK     *prometheus.GaugeVec
	duration   *prometheus.GaugeVec
	seen       *prometheus.CounterVec
	changed    *prometheus.CounterVec
	published  *prometheus.CounterVec
	failedRecs *prometheus.CounterVec
	errors     *prometheus.CounterVec
	leader     *prometheus.GaugeVec
}

// NewMetrics registers the collector metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"tenant", "type"}
	m := &Metrics{
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
	reg.MustRegister(m.lastRun, m.lastOK, m.duration, m.seen, m.changed, m.published, m.failedRecs, m.errors)
	return m
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
