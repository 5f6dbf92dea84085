package entra

import (
	"context"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
)

// newCheckpoints returns the collector's real KV-backed checkpoints on a bare embedded JetStream server.
func newCheckpoints(t testing.TB) collector.Checkpoints {
	t.Helper()
	return collector.NewState(brokertest.BareKV(t, "entra_test")).Checkpoints()
}

// env is one imitation tenant served over HTTPS, a source configured against it and its checkpoints.
type env struct {
	co    *graph.Company
	srv   *graph.Server
	ts    *httptest.Server
	cfg   *config.Tenant
	opts  Options
	src   *Source
	cp    collector.Checkpoints
	clock atomic.Int64 // offset added to the source's clock, in nanoseconds
	// auditBudget keeps the production directoryAudits rate limit (set in the server hook).
	auditBudget bool
}

func newEnv(t testing.TB, pageSize int, tweak func(*config.Tenant, *Options)) *env {
	return newEnvWith(t, tweak, func(e *env) { e.srv.PageSize = pageSize })
}

// newEnvWith is newEnv with a hook that runs once the server listens, before the source is built.
func newEnvWith(t testing.TB, tweak func(*config.Tenant, *Options), server func(*env)) *env {
	t.Helper()
	e := &env{co: graph.NewCompany(nil)}
	e.srv = graph.NewServer(e.co.Tenant)
	e.srv.PageSize = 7
	e.srv.AddClient("client-one", "secret-one")
	e.srv.AddClient("client-two", "secret-two")
	e.ts = e.srv.Start()
	t.Cleanup(e.ts.Close)
	if server != nil {
		server(e)
	}
	e.cfg = &config.Tenant{
		Auth: config.Auth{OAuth: &config.OAuth{Clients: []config.OAuthClient{
			{ClientID: "client-one", ClientSecret: "secret-one"}, {ClientID: "client-two", ClientSecret: "secret-two"}}}},
		General: config.General{Entra: config.EntraGeneral{TenantID: e.co.Domain, GraphURL: e.ts.URL, LoginURL: e.ts.URL}},
	}
	e.opts = Options{HTTPClient: e.ts.Client(), Now: func() time.Time { return time.Now().Add(time.Duration(e.clock.Load())) }}
	if tweak != nil {
		tweak(e.cfg, &e.opts)
	}
	e.src = e.newSource(t)
	e.cp = newCheckpoints(t)
	return e
}

func (e *env) newSource(t testing.TB) *Source {
	t.Helper()
	src, err := New("mycompany", e.cfg, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if !e.auditBudget {
		// Tests collect back to back; only TestAuditBudgetRespected runs with Graph's audit budget.
		src.c.audit = rate.NewLimiter(rate.Inf, 0)
	}
	return src
}

// collect runs one collection and returns the records by id.
func (e *env) collect(t testing.TB) (bool, map[string]collector.Record) {
	t.Helper()
	got := map[string]collector.Record{}
	full, err := e.src.Collect(context.Background(), e.cp, func(r collector.Record) error {
		if _, dup := got[r.ID]; dup {
			t.Errorf("record %s emitted twice in one collection", r.ID)
		}
		got[r.ID] = r
		return nil
	})
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	return full, got
}

func (e *env) user(nick string) string { return e.co.Users[nick] }

// ids returns the nicknames of the records, sorted, for readable failures.
func (e *env) names(recs map[string]collector.Record) []string {
	byID := map[string]string{}
	for n, id := range e.co.Users {
		byID[id] = n
	}
	var out []string
	for id := range recs {
		n := byID[id]
		if n == "" {
			n = id
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func groupNames(r collector.Record) []string {
	var out []string
	for _, g := range r.Groups {
		out = append(out, g.DisplayName)
	}
	return out
}

func roleNames(r collector.Record) []string {
	var out []string
	for _, x := range r.Roles {
		out = append(out, x.Application+"/"+x.Value)
	}
	sort.Strings(out)
	return out
}

func wantSet(t testing.TB, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	g := slices.Clone(got)
	sort.Strings(g)
	if !slices.Equal(g, want) {
		t.Errorf("%s = %q, want %q", what, g, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// requests counts the server's answered requests whose path contains part.
func (e *env) requests(part string) []graph.Request {
	var out []graph.Request
	for _, r := range e.srv.Requests() {
		if strings.Contains(r.Path, part) {
			out = append(out, r)
		}
	}
	return out
}
