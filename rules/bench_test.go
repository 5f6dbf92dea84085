package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// benchUser has 50 groups and 5 roles, a typical well-connected Entra user.
func benchUser() scim.User {
	groups := make([]any, 50)
	for i := range groups {
		name := fmt.Sprintf("App%d_Group%02d", i%7, i)
		groups[i] = map[string]any{"display": name, "value": name}
	}
	roles := make([]any, 5)
	for i := range roles {
		roles[i] = map[string]any{"type": "Application 1", "appId": app1ID, "display": fmt.Sprintf("Role %d", i), "value": fmt.Sprintf("Role%d", i)}
	}
	return scim.User{
		"userName": "john.smith@mycompany.com", "title": "Dog Trainer", "active": true, "displayName": "John Smith",
		"name":      map[string]any{"givenName": "John", "familyName": "Smith", "formatted": "John Smith"},
		"emails":    []any{map[string]any{"type": "work", "value": "john.smith@mycompany.com"}, map[string]any{"type": "other", "value": "js@example.org"}},
		"addresses": []any{map[string]any{"type": "work", "postalCode": "91608", "city": "Hollywood"}},
		"groups":    groups, "roles": roles,
		scim.EnterpriseUserSchema: map[string]any{"department": "Tour Operations", "employeeNumber": "991999"},
	}
}

var benchStreams = []config.Stream{
	{Channel: "C0", Rules: []config.Filter{{Filter: `(user.roles.` + app1ID + `.value -match ".*")`}}},
	{Channel: "C1", Rules: []config.Filter{{Filter: `(user.groups.value -match "App1_Group01")`}, {Filter: `(user.groups.value -match "App2_Group02")`}}},
	{Channel: "C2", Rules: []config.Filter{{Filter: `(user.groups.display -match "App3.*")`}, {Filter: `(user.roles.Application 1.value -match "Role1")`}}},
	{Channel: "C3", Rules: []config.Filter{{Filter: `(user.emails.work.value -match "*@mycompany.com")`}, {Filter: `(user.groups.display -match "App4.*") and (user.title -match "(Dog Trainer|Project Manager)")`}}},
	{Channel: "C4", Rules: []config.Filter{{Filter: `(.*)`}}},
	{Channel: "C5", Rules: []config.Filter{{Filter: `(user.groups.display -match "(?i)app5_group[0-9]+")`}}},
	{Channel: "C6", Rules: []config.Filter{{Filter: `(user.groups.value -match "App6_Group06" -exclude)`}}},
	{Channel: "C7", Rules: []config.Filter{{Filter: `(user.roles.` + app1ID + `.value -match ".*") and (initiatedByUpn -match "(?!Sync_.*)")`}}},
	{Channel: "C8", Rules: []config.Filter{{Filter: `(user.title -match ".*Trainer.*")`}, {Filter: `(user.dynamicIds -match "dynamic-1")`}}},
	{Channel: "C9", Rules: []config.Filter{{Filter: `(user.addresses.work.postalCode -match "9160[0-9]")`}}},
}

// BenchmarkRoute routes a change of a 50-group user over 10 channels (both the previous and the current view are
// evaluated and pruned on every channel) and reports it as a ratio to one deep copy of the same user
// (scim.User.Clone), timed alternately in the same loop.
func BenchmarkRoute(b *testing.B) {
	r, err := Compile(benchStreams)
	if err != nil {
		b.Fatal(err)
	}
	prev := benchUser()
	cur := prev.Clone()
	cur["title"] = "Project Manager"
	fields := Fields{"initiatedByUpn": "admin@mycompany.com", "activityOperation": wire.ModifyUser}
	published := 0
	for _, d := range r.Route(prev, cur, fields) {
		if d.Matched || d.PreviouslyMatched {
			published++
		}
	}
	if published != 10 {
		b.Fatalf("%d of 10 channels matched; the benchmark must exercise pruning on every channel", published)
	}
	ratio(b, func() { r.Route(prev, cur, fields) }, func() { _ = cur.Clone() })
}

// BenchmarkRouteDocsExample: route decisions per second for the documentation's five-channel example (a modify of
// a user with 3 groups and 3 roles), with the same clone ratio.
func BenchmarkRouteDocsExample(b *testing.B) {
	r := docsRouter(b)
	prev := user(b, docsUser)
	cur := prev.Clone()
	cur["title"] = "Dog Trainer"
	fields := Fields{"initiatedByUpn": "admin@mycompany.com"}
	ratio(b, func() { r.Route(prev, cur, fields) }, func() { _ = cur.Clone() })
}

// ratio runs op and baseline alternately in the same loop and reports each one's time per call and their ratio
// (ns/op is the pair's). Allocations per op are the pair's too. routes/s is by wall time; routes/cpu-s divides the
// process's CPU time (GC included) between op and baseline in proportion to their wall times, so it is the
// throughput of one core even when other processes share the machine.
func ratio(b *testing.B, op, baseline func()) {
	b.ReportAllocs()
	var opT, baseT time.Duration
	n := 0
	cpu0 := processCPU()
	for b.Loop() {
		t0 := time.Now()
		op()
		t1 := time.Now()
		baseline()
		t2 := time.Now()
		opT += t1.Sub(t0)
		baseT += t2.Sub(t1)
		n++
	}
	b.ReportMetric(float64(opT)/float64(n), "route-ns")
	b.ReportMetric(float64(baseT)/float64(n), "clone-ns")
	b.ReportMetric(float64(opT)/float64(baseT), "route/clone")
	b.ReportMetric(float64(n)/opT.Seconds(), "routes/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		opCPU := cpu.Seconds() * float64(opT) / float64(opT+baseT)
		b.ReportMetric(float64(n)/opCPU, "routes/cpu-s")
	}
}
