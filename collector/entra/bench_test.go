package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
)

// bigTenant builds n users in departments of deptSize, each department a group nested under one of ten
// divisions nested under "Everyone", and apps applications with roles assigned to divisions and to every 500th
// user. The tenant is built an hour in the past, so its audit rows are older than the source's look-back, as for
// a tenant that was not bulk-loaded a minute ago.
func bigTenant(n, deptSize, apps int) *graph.Tenant {
	var past atomic.Bool
	past.Store(true)
	t := graph.NewTenant(graph.StableID("tenant:bench"), "bench.example", func() time.Time {
		if past.Load() {
			return time.Now().Add(-time.Hour)
		}
		return time.Now()
	})
	defer past.Store(false)
	everyone := t.AddGroup(graph.Actor{}, "", "Everyone")
	var divisions []string
	for i := range 10 {
		d := t.AddGroup(graph.Actor{}, "", fmt.Sprintf("Division %d", i))
		_ = t.AddMember(graph.Actor{}, everyone, d)
		divisions = append(divisions, d)
	}
	var appIDs []string
	for i := range apps {
		appIDs = append(appIDs, t.AddApplication(graph.Actor{}, "", fmt.Sprintf("App %d", i),
			graph.AppRole{DisplayName: "User", Value: "User"}, graph.AppRole{DisplayName: "Admin", Value: "Admin"}))
	}
	for i, d := range divisions {
		_ = t.AssignAppRole(graph.Actor{}, appIDs[i%apps], d, "User")
	}
	var dept string
	for i := range n {
		if i%deptSize == 0 {
			dept = t.AddGroup(graph.Actor{}, "", fmt.Sprintf("Dept %d", i/deptSize))
			_ = t.AddMember(graph.Actor{}, divisions[(i/deptSize)%10], dept)
		}
		nick := fmt.Sprintf("user%06d", i)
		id := t.AddUser(graph.Actor{}, map[string]any{"userPrincipalName": nick + "@bench.example", "mail": nick + "@bench.example",
			"displayName": "User " + nick, "givenName": "User", "surname": nick, "jobTitle": "Engineer", "department": dept,
			"employeeId": nick, "city": "Oslo", "country": "Norway", "businessPhones": []any{"+47 2100 0000"},
			"employeeOrgData": map[string]any{"costCenter": "CC1", "division": "D"}})
		_ = t.AddMember(graph.Actor{}, dept, id)
		if i%500 == 0 {
			_ = t.AssignAppRole(graph.Actor{}, appIDs[(i/500)%apps], id, "Admin")
		}
	}
	return t
}

// BenchmarkInitialLoad measures a full collection of 10,000 users (110 groups nested three deep, 5 applications
// with roles through groups) through the imitation over HTTPS, against a plain loop that GETs and decodes the
// same users/delta pages in the same run. The ratio is what everything the source adds costs (groups, roles,
// recycle bin, directory, records).
func BenchmarkInitialLoad(b *testing.B) { benchInitialLoad(b, 10000, 100, 5) }

// BenchmarkInitialLoad100k is the scale: 100,000 users, 5,000+ nested groups, 20 applications. Run it
// with -benchtime 1x; it also reports the peak Go heap of the process (imitation included).
func BenchmarkInitialLoad100k(b *testing.B) { benchInitialLoad(b, 100000, 20, 20) }

func benchInitialLoad(b *testing.B, n, deptSize, apps int) {
	tenant := bigTenant(n, deptSize, apps)
	ts, cfg := benchServer(b, tenant) // Graph's page of 100 users
	cp := newCheckpoints(b)
	token := benchToken(b, ts.Client(), ts.URL, tenant.ID)
	src, err := New("bench", cfg, Options{HTTPClient: ts.Client()})
	if err != nil {
		b.Fatal(err)
	}
	// Loads run back to back here; the audit budget (one poll per 3.3 s) would time the limiter, not the load.
	src.c.audit = rate.NewLimiter(rate.Inf, 0)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	heap := sampleHeap()
	var srcTime, baseTime time.Duration
	b.ResetTimer()
	for range b.N {
		src.RequestFull()
		start := time.Now()
		count := 0
		full, err := src.Collect(context.Background(), cp, func(r collector.Record) error { count++; return nil })
		if err != nil || !full || count != n {
			b.Fatalf("collect: full=%v count=%d err=%v", full, count, err)
		}
		srcTime += time.Since(start)

		start = time.Now()
		if got := baselineLoad(b, ts.Client(), ts.URL+"/v1.0"+src.usersURL(), token); got != n {
			b.Fatalf("baseline read %d users", got)
		}
		baseTime += time.Since(start)
	}
	b.StopTimer()
	heap.stop()
	peak := &heap.peak
	runtime.GC()
	runtime.ReadMemStats(&ms)
	retained := ms.HeapAlloc - min(before, ms.HeapAlloc)
	runtime.KeepAlive(src)
	srcRate := float64(n*b.N) / srcTime.Seconds()
	baseRate := float64(n*b.N) / baseTime.Seconds()
	b.ReportMetric(srcRate, "users/s")
	b.ReportMetric(baseRate, "baseline-users/s")
	b.ReportMetric(srcRate/baseRate, "ratio")
	b.ReportMetric(srcTime.Seconds()/float64(b.N), "s/load")
	b.ReportMetric(float64(peak.Load()-min(before, peak.Load()))/(1<<20), "peak-heap-MB-over-tenant")
	b.ReportMetric(float64(retained)/(1<<20), "directory-MB")
}

// benchServer serves tenant over HTTPS until the benchmark ends, with the OAuth client "bench", and returns the
// tenant configuration that reads it.
func benchServer(b *testing.B, tenant *graph.Tenant) (*httptest.Server, *config.Tenant) {
	srv := graph.NewServer(tenant)
	srv.AddClient("bench", "bench-secret")
	ts := srv.Start()
	b.Cleanup(ts.Close)
	return ts, &config.Tenant{
		Auth:    config.Auth{OAuth: &config.OAuth{Clients: []config.OAuthClient{{ClientID: "bench", ClientSecret: "bench-secret"}}}},
		General: config.General{Entra: config.EntraGeneral{TenantID: tenant.ID, GraphURL: ts.URL, LoginURL: ts.URL}},
	}
}

// heapSampler records the peak Go heap (HeapAlloc, garbage included) and the peak live heap every 20 ms until
// stop.
type heapSampler struct {
	peak, peakLive atomic.Uint64
	stopc, done    chan struct{}
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		var m runtime.MemStats
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-h.stopc:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > h.peak.Load() {
					h.peak.Store(m.HeapAlloc)
				}
				metrics.Read(live)
				if v := live[0].Value.Uint64(); v > h.peakLive.Load() {
					h.peakLive.Store(v)
				}
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() {
	close(h.stopc)
	<-h.done
}

func benchToken(b *testing.B, c *http.Client, base, tenant string) string {
	resp, err := c.PostForm(base+"/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"bench"}, "client_secret": {"bench-secret"}, "scope": {base + "/.default"}})
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %v", err)
	}
	return tok.AccessToken
}

// baselineLoad is the least any collector must do: follow users/delta pages and decode them.
func baselineLoad(b *testing.B, c *http.Client, u, token string) int {
	n := 0
	for u != "" {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var p page[map[string]any]
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		n += len(p.Value)
		u = p.NextLink
		if strings.Contains(u, "$deltatoken") {
			break
		}
	}
	return n
}

// BenchmarkIncremental measures one collection that finds one changed user in a 10,000-user tenant (users,
// groups and audit log polled), against a plain GET+decode of the same users/delta round.
func BenchmarkIncremental(b *testing.B) {
	tenant := bigTenant(10000, 100, 5)
	ts, cfg := benchServer(b, tenant)
	cp := newCheckpoints(b)
	token := benchToken(b, ts.Client(), ts.URL, tenant.ID)
	src, err := New("bench", cfg, Options{HTTPClient: ts.Client()})
	if err != nil {
		b.Fatal(err)
	}
	src.c.audit = rate.NewLimiter(rate.Inf, 0) // back-to-back polls; production paces them at the interval
	if _, err := src.Collect(context.Background(), cp, func(collector.Record) error { return nil }); err != nil {
		b.Fatal(err)
	}
	id := tenant.UserIDs()[4242]
	var srcTime, baseTime time.Duration
	b.ResetTimer()
	for i := range b.N {
		_ = tenant.UpdateUser(graph.Actor{}, id, map[string]any{"jobTitle": fmt.Sprintf("Engineer %d", i)})
		// The baseline reads the same round first, from the link the source will use.
		var sp syncPoint
		raw, _ := cp.Get(context.Background(), cpKey)
		_ = json.Unmarshal(raw, &sp)
		start := time.Now()
		if got := baselineLoad(b, ts.Client(), sp.Users, token); got != 1 {
			b.Fatalf("baseline read %d users, want 1", got)
		}
		baseTime += time.Since(start)

		start = time.Now()
		count := 0
		if _, err := src.Collect(context.Background(), cp, func(collector.Record) error { count++; return nil }); err != nil || count != 1 {
			b.Fatalf("collect: %d records, %v", count, err)
		}
		srcTime += time.Since(start)
	}
	b.ReportMetric(float64(srcTime.Microseconds())/float64(b.N)/1000, "ms/collect")
	b.ReportMetric(float64(baseTime.Microseconds())/float64(b.N)/1000, "baseline-ms")
	b.ReportMetric(srcTime.Seconds()/baseTime.Seconds(), "ratio")
}
