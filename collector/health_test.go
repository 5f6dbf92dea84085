package collector

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/health"
	"github.com/scim-stream/scim-stream/wire"
)

// gatedSource is a source whose collections end when the test says so, with the error it sends.
type gatedSource struct {
	results chan error
}

func (s *gatedSource) Type() wire.Type { return wire.HR }

func (s *gatedSource) Policy() Policy { return testPolicy(wire.HR) }

func (s *gatedSource) Collect(ctx context.Context, _ Checkpoints, _ func(Record) error) (bool, error) {
	select {
	case err := <-s.results:
		return true, err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func partOf(t *testing.T, r *Runner, name string) health.Part {
	t.Helper()
	for _, p := range r.Health() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no part %q in %+v", name, r.Health())
	return health.Part{}
}

// TestRunnerHealthAndMetrics: a tenant whose configuration does not compile is reported "not started" and makes
// the collectors not ready; a running tenant has every metric series from the start (zero values), is
// "collecting" until its first collection ends, "ok" after a success, "failing" but ready within the retry
// budget, not ready when the budget is spent, and ready again after a success. A removed tenant's series go.
func TestRunnerHealthAndMetrics(t *testing.T) {
	env := brokertest.Start(t, "acme")
	src := &gatedSource{results: make(chan error)}
	reg := prometheus.NewRegistry()
	collected := make(chan error, 10)
	r := &Runner{
		Broker:      env.Broker,
		Sources:     map[wire.Type]SourceFactory{wire.HR: func(*Tenant) (Source, error) { return src, nil }},
		Metrics:     NewMetrics(reg),
		OnCollected: func(_ *Tenant, _ Stats, err error) { collected <- err },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.Wait() }()
	r.Start(ctx)
	good := hrTenant(t).Config
	good.General.CollectInterval = config.CollectInterval{Seconds: 3600}
	broken := *good
	broken.Streams = []config.Stream{{Channel: "SF", Rules: []config.Filter{{Filter: "department eq"}}}}
	cfg := &config.Config{HR: map[string]*config.Tenant{"acme": good, "broken": &broken}}
	if err := r.Apply(cfg); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Apply = %v, want the broken tenant's error", err)
	}
	checks := &health.Registry{}
	checks.Add(r.Health)

	if p := partOf(t, r, "HR/broken"); p.State != StateNotStarted || p.Ready || !strings.Contains(p.LastError, "hr.broken") {
		t.Errorf("broken tenant %+v, want not started naming hr.broken", p)
	}
	// The first collection is under way (the source holds it): every series exists with zero.
	deadline := time.Now().Add(20 * time.Second)
	for partOf(t, r, "HR/acme").State != StateCollecting {
		if time.Now().After(deadline) {
			t.Fatalf("acme never reached %q: %+v", StateCollecting, partOf(t, r, "HR/acme"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p := partOf(t, r, "HR/acme"); !p.Ready || p.LastSuccess != nil {
		t.Errorf("collecting tenant %+v, want ready without a success", p)
	}
	want := `
# HELP scimstream_collections_total Collections that ended (successful or not).
# TYPE scimstream_collections_total counter
scimstream_collections_total{tenant="acme",type="HR"} 0
# HELP scimstream_collection_last_success_timestamp_seconds Unix time the last successful collection ended.
# TYPE scimstream_collection_last_success_timestamp_seconds gauge
scimstream_collection_last_success_timestamp_seconds{tenant="acme",type="HR"} 0
# HELP scimstream_tenant_running 1 while the tenant's collector runs; its series disappear when the tenant is removed.
# TYPE scimstream_tenant_running gauge
scimstream_tenant_running{tenant="acme",type="HR"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "scimstream_collections_total",
		"scimstream_collection_last_success_timestamp_seconds", "scimstream_tenant_running"); err != nil {
		t.Errorf("series before the first collection: %v", err)
	}
	if n := testutil.CollectAndCount(reg, "scimstream_users_seen_total", "scimstream_users_changed_total",
		"scimstream_messages_published_total", "scimstream_collection_errors_total"); n != 4 {
		t.Errorf("%d user and error series before the first collection, want 4", n)
	}
	if rep := checks.Report(); rep.Status != "not ready" {
		t.Errorf("with a tenant not started the report is %q", rep.Status)
	}

	finish := func(err error) {
		t.Helper()
		src.results <- err
		select {
		case <-collected:
		case <-time.After(20 * time.Second):
			t.Fatal("collection did not end")
		}
	}
	finish(nil)
	if p := partOf(t, r, "HR/acme"); p.State != StateOK || !p.Ready || p.LastSuccess == nil {
		t.Errorf("after a success %+v", p)
	}
	down := errors.New("GET https://hr.example.com/odata: 503 Service Unavailable")
	for i := 1; i <= DefaultRetryBudget; i++ {
		r.Trigger(wire.HR, "acme")
		finish(down)
		p := partOf(t, r, "HR/acme")
		if p.State != StateFailing || p.Failures != i || !strings.HasSuffix(p.LastError, down.Error()) || p.LastSuccess == nil {
			t.Errorf("after %d failures %+v", i, p)
		}
		if p.Ready != (i < DefaultRetryBudget) {
			t.Errorf("after %d failures ready=%v; the budget is %d", i, p.Ready, DefaultRetryBudget)
		}
	}
	if got := testutil.ToFloat64(r.Metrics.errors.WithLabelValues("acme", "HR")); got != DefaultRetryBudget {
		t.Errorf("scimstream_collection_errors_total = %v", got)
	}
	if got := testutil.ToFloat64(r.Metrics.collections.WithLabelValues("acme", "HR")); got != DefaultRetryBudget+1 {
		t.Errorf("scimstream_collections_total = %v", got)
	}
	r.Trigger(wire.HR, "acme")
	finish(nil)
	if p := partOf(t, r, "HR/acme"); p.State != StateOK || !p.Ready || p.Failures != 0 {
		t.Errorf("after a success following failures %+v", p)
	}

	// Without the broken tenant every part is ready; without acme its series are gone.
	if err := r.Apply(&config.Config{HR: map[string]*config.Tenant{"acme": good}}); err != nil {
		t.Fatal(err)
	}
	if rep := checks.Report(); rep.Status != "ready" || len(rep.Parts) != 1 {
		t.Errorf("report %+v, want ready with acme only", rep)
	}
	if err := r.Apply(&config.Config{}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "scimstream_tenant_running", "scimstream_collections_total"); n != 0 {
		t.Errorf("%d series left after the tenant was removed", n)
	}
	if rep := checks.Report(); rep.Status != "not ready" {
		t.Errorf("with no tenant at all the report is %q, want not ready", rep.Status)
	}
}
