package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/testdata/graph"
)

// bigTenant builds n users in departments of 100, each department a group nested under one of ten divisions
// nested under "Everyone", and five applications with roles assigned to divisions and some users. The tenant is
// built an hour in the past, so its audit rows are older than the source's look-back, as for a tenant that was
// not bulk-loaded a minute ago.
func bigTenant(n int) (*graph.Tenant, string) {
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
	var apps []string
	for i := range 5 {
		apps = append(apps, t.AddApplication(graph.Actor{}, "", fmt.Sprintf("App %d", i),
			graph.AppRole{DisplayName: "User", Value: "User"}, graph.AppRole{DisplayName: "Admin", Value: "Admin"}))
	}
	for i, d := range divisions {
		_ = t.AssignAppRole(graph.Actor{}, apps[i%5], d, "User")
	}
	var dept string
	for i := range n {
		if i%100 == 0 {
			dept = t.AddGroup(graph.Actor{}, "", fmt.Sprintf("Dept %d", i/100))
			_ = t.AddMember(graph.Actor{}, divisions[(i/100)%10], dept)
		}
		nick := fmt.Sprintf("user%06d", i)
		id := t.AddUser(graph.Actor{}, map[string]any{"userPrincipalName": nick + "@bench.example", "mail": nick + "@bench.example",
			"displayName": "User " + nick, "givenName": "User", "surname": nick, "jobTitle": "Engineer", "department": dept,
			"employeeId": nick, "city": "Oslo", "country": "Norway", "businessPhones": []any{"+47 2100 0000"},
			"employeeOrgData": map[string]any{"costCenter": "CC1", "division": "D"}})
		_ = t.AddMember(graph.Actor{}, dept, id)
		if i%500 == 0 {
			_ = t.AssignAppRole(graph.Actor{}, apps[0], id, "Admin")
		}
	}
	return t, everyone
}

// BenchmarkInitialLoad measures a full collection of 10,000 users (nested groups, app roles through groups)
// through the imitation over HTTPS, against a plain loop that GETs and decodes the same users/delta pages in the
// same run. The ratio is the cost of everything the source adds (groups, roles, audit, directory, records).
func BenchmarkInitialLoad(b *testing.B) {
	const n = 10000
	tenant, _ := bigTenant(n)
	srv := graph.NewServer(tenant)
	srv.PageSize = 100
	srv.AddClient("bench", "bench-secret")
	ts := srv.Start()
	defer ts.Close()
	cfg := &config.Tenant{
		Auth:    config.Auth{OAuth: &config.OAuth{Clients: []config.OAuthClient{{ClientID: "bench", ClientSecret: "bench-secret"}}}},
		General: config.General{Entra: config.EntraGeneral{TenantID: tenant.ID, GraphURL: ts.URL, LoginURL: ts.URL}},
	}
	cp := newCheckpoints(b)
	token := benchToken(b, ts.Client(), ts.URL, tenant.ID)
	src, err := New("bench", cfg, Options{HTTPClient: ts.Client()})
	if err != nil {
		b.Fatal(err)
	}
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
	srcRate := float64(n*b.N) / srcTime.Seconds()
	baseRate := float64(n*b.N) / baseTime.Seconds()
	b.ReportMetric(srcRate, "users/s")
	b.ReportMetric(baseRate, "baseline-users/s")
	b.ReportMetric(srcRate/baseRate, "ratio")
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
