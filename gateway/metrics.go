package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Message results in scimstream_gateway_messages_total.
const (
	resultApplied    = "applied"    // acknowledged: created, replaced, modified, deleted, unchanged or skipped
	resultRetry      = "retry"      // the endpoint failed; handed back with a back-off
	resultTerminated = "terminated" // can never be applied; terminated
)

// Metrics are the gateway's Prometheus metrics. Create them once per process (they register with a registry)
// and give them to every Gateway before Run; a nil *Metrics records nothing. To add a metric: a field, its
// constructor in NewMetrics, and its label values in startEntity when it is per entity.
type Metrics struct {
	messages    *prometheus.CounterVec
	applyTime   *prometheus.HistogramVec
	requests    *prometheus.CounterVec
	requestTime *prometheus.HistogramVec
}

// NewMetrics registers the gateway metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_gateway_messages_total",
			Help: "Stream messages handled, by entity, endpoint type and result (applied, retry, terminated)."},
			[]string{"entity", "endpoint", "result"}),
		applyTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scimstream_gateway_message_apply_duration_seconds",
			Help:    "Time from a stream message's receipt to its acknowledgement, termination or hand-back (applied alone or in a batch).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"entity", "endpoint"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimstream_gateway_scim_requests_total",
			Help: "SCIM HTTP requests served, by method and status code."}, []string{"code", "method"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scimstream_gateway_scim_request_duration_seconds",
			Help:    "SCIM HTTP request latency by method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"method"}),
	}
	reg.MustRegister(m.messages, m.applyTime, m.requests, m.requestTime)
	// The methods a SCIM client uses exist from the start, so that rate() works before the first request.
	for _, method := range []string{"get", "post", "put", "patch", "delete"} {
		m.requestTime.WithLabelValues(method)
	}
	return m
}

// startEntity creates an entity's series with zero values.
func (m *Metrics) startEntity(entity, endpoint string) {
	if m == nil {
		return
	}
	for _, r := range []string{resultApplied, resultRetry, resultTerminated} {
		m.messages.WithLabelValues(entity, endpoint, r)
	}
	m.applyTime.WithLabelValues(entity, endpoint)
}

func (m *Metrics) message(entity, endpoint, result string, seconds float64) {
	if m == nil {
		return
	}
	m.messages.WithLabelValues(entity, endpoint, result).Inc()
	m.applyTime.WithLabelValues(entity, endpoint).Observe(seconds)
}

// Instrument counts and times the SCIM HTTP server's requests (methods outside the standard ones are counted
// as one label value by promhttp, so a client cannot grow the series without bound).
func (m *Metrics) Instrument(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return promhttp.InstrumentHandlerDuration(m.requestTime, promhttp.InstrumentHandlerCounter(m.requests, h))
}
