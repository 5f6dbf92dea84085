package collector

import "github.com/prometheus/client_golang/prometheus"

// safetyMetrics are the metrics of the safety rules (README "Safety").
type safetyMetrics struct {
	incomplete *prometheus.CounterVec
	held       *prometheus.GaugeVec
	holds      *prometheus.CounterVec
	released   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	regexTO    *prometheus.CounterVec
}

func newSafetyMetrics(reg prometheus.Registerer) *safetyMetrics {
	labels := []string{"tenant", "type"}
	m := &safetyMetrics{
		incomplete: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_collection_incomplete_total",
			Help: "Full collections that did not read the whole source (paging cut short, count mismatch, records without id); nobody was treated as a leaver."}, labels),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimstream_guard_held_leavers",
			Help: "Leavers (deactivations and deletions) the mass-change guard holds now; 0 when nothing is held."}, labels),
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_guard_held_collections_total",
			Help: "Collections whose leavers the mass-change guard held."}, labels),
		released: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_guard_released_leavers_total",
			Help: "Held leavers published after scim-stream release."}, labels),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_records_duplicate_id_total",
			Help: "Records whose id another record of the same collection carries too (neither is published)."}, labels),
		regexTO: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_routing_timeouts_total",
			Help: "Users whose routing failed for a collection because a rule or dynamic regex match timed out."}, labels),
	}
	m.each(func(c prometheus.Collector) { reg.MustRegister(c) })
	return m
}

// each calls f with every safety metric (none when m is nil).
func (m *safetyMetrics) each(f func(prometheus.Collector)) {
	if m == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.incomplete, m.held, m.holds, m.released, m.duplicates, m.regexTO} {
		f(c)
	}
}

func (m *Metrics) incompleteCollection(t *Tenant) {
	if m == nil || m.safety == nil {
		return
	}
	m.safety.incomplete.WithLabelValues(t.Name, string(t.Type)).Inc()
}

func (m *Metrics) guardState(t *Tenant, h *Hold, released int) {
	if m == nil || m.safety == nil {
		return
	}
	l := []string{t.Name, string(t.Type)}
	if h != nil {
		m.safety.held.WithLabelValues(l...).Set(float64(h.Leavers))
		m.safety.holds.WithLabelValues(l...).Inc()
	} else {
		m.safety.held.WithLabelValues(l...).Set(0)
	}
	if released > 0 {
		m.safety.released.WithLabelValues(l...).Add(float64(released))
	}
}

func (m *Metrics) duplicateRecord(t *Tenant) {
	if m == nil || m.safety == nil {
		return
	}
	m.safety.duplicates.WithLabelValues(t.Name, string(t.Type)).Inc()
	m.failedRecs.WithLabelValues(t.Name, string(t.Type)).Inc()
}

func (m *Metrics) routingTimeout(t *Tenant) {
	if m == nil || m.safety == nil {
		return
	}
	m.safety.regexTO.WithLabelValues(t.Name, string(t.Type)).Inc()
}
