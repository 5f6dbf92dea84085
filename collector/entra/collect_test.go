package entra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
)

// The seeded company has 19 people, a sync account and a service account (members) and one guest.
var members = []string{"alice.andersen", "john.smith", "bjorn.odegard", "chloe.martin", "david.kim", "eva.schmidt",
	"fatima.khan", "george.brown", "hanna.berg", "ivan.petrov", "julia.rossi", "karl.nilsen", "lena.fischer",
	"mohammed.ali", "nora.hansen", "oscar.lind", "paula.silva", "quentin.dubois", "rita.moreau", "sync_server01", "svc.backup"}

func TestInitialLoad(t *testing.T) {
	e := newEnv(t, 7, nil)
	full, recs := e.collect(t)
	if !full {
		t.Fatal("first collection of a process must be full")
	}
	wantSet(t, "users", e.names(recs), members...)

	john := recs[e.user("john.smith")]
	if john.Data["userPrincipalName"] != "john.smith@mycompany.com" || john.Data["jobTitle"] != "Project Manager" {
		t.Errorf("john's data: %v", john.Data)
	}
	mgr, _ := john.Data["manager"].(map[string]any)
	if mgr["userPrincipalName"] != "alice.andersen@mycompany.com" || mgr["displayName"] != "Alice Andersen" {
		t.Errorf("john's manager = %v, want Alice expanded", john.Data["manager"])
	}
	if org, _ := john.Data["employeeOrgData"].(map[string]any); org["division"] != "Engineering" {
		t.Errorf("employeeOrgData = %v", john.Data["employeeOrgData"])
	}
	if john.Data["physicalDeliveryOfficeName"] != "Oslo HQ" {
		t.Errorf("physicalDeliveryOfficeName (officeLocation) = %v", john.Data["physicalDeliveryOfficeName"])
	}
	wantSet(t, "john's groups", groupNames(john), "All Employees", "Engineering")
	wantSet(t, "john's roles", roleNames(john), "Application1/Admins", "Application1/Employees", "HR Portal/Reader")

	// Bjørn is in Engineering-Backend, nested in Engineering, nested in All Employees.
	bjorn := recs[e.user("bjorn.odegard")]
	wantSet(t, "bjørn's groups", groupNames(bjorn), "All Employees", "Engineering", "Engineering-Backend")
	wantSet(t, "bjørn's roles", roleNames(bjorn), "Application1/Employees", "HR Portal/Reader")
	if bjorn.Data["givenName"] != "Bjørn" {
		t.Errorf("givenName = %v", bjorn.Data["givenName"])
	}
	groups, _ := bjorn.Data["groups"].([]any)
	if len(groups) != 3 || groups[0].(map[string]any)["value"] != "All Employees" || groups[0].(map[string]any)["display"] != "All Employees" {
		t.Errorf("Data groups = %v, want display=value=name", bjorn.Data["groups"])
	}
	roles, _ := bjorn.Data["appRoles"].([]any)
	var sawApp1 bool
	for _, r := range roles {
		m := r.(map[string]any)
		if m["type"] == "Application1" {
			sawApp1 = m["appId"] == e.co.App1 && m["value"] == "Employees" && m["display"] == "Employees access"
		}
	}
	if !sawApp1 {
		t.Errorf("Data appRoles = %v, want Application1 Employees with the service principal id", roles)
	}
	for _, r := range bjorn.Roles {
		if r.Application == "Application1" && r.AppID != e.co.App1 {
			t.Errorf("role AppID = %s, want the service principal object id %s", r.AppID, e.co.App1)
		}
	}

	// Paging was followed and both OAuth clients were used.
	if n := len(e.requests("/users/delta")); n < 3 {
		t.Errorf("users/delta requests = %d, want several pages at page size 7", n)
	}
	clients := map[string]bool{}
	for _, r := range e.requests("/v1.0/") {
		clients[r.Client] = true
	}
	if !clients["client-one"] || !clients["client-two"] {
		t.Errorf("clients used = %v, want both in round robin", clients)
	}
}

func TestIncrementalChangeWithInitiator(t *testing.T) {
	e := newEnv(t, 7, nil)
	e.collect(t)
	must(t, e.co.UpdateUser(e.co.Admin, e.user("chloe.martin"), map[string]any{"jobTitle": "Staff Engineer", "mobilePhone": nil}))
	full, recs := e.collect(t)
	if full {
		t.Error("second collection must be incremental")
	}
	wantSet(t, "changed users", e.names(recs), "chloe.martin")
	c := recs[e.user("chloe.martin")]
	if c.Data["jobTitle"] != "Staff Engineer" {
		t.Errorf("jobTitle = %v", c.Data["jobTitle"])
	}
	if _, ok := c.Data["mobilePhone"]; ok {
		t.Errorf("cleared mobilePhone still present: %v", c.Data["mobilePhone"])
	}
	// Graph sends only changed properties: the rest must come from what the source already knew.
	if c.Data["userPrincipalName"] != "chloe.martin@mycompany.com" || c.Data["department"] != "Engineering" {
		t.Errorf("unchanged attributes lost in merge: %v", c.Data)
	}
	wantSet(t, "chloé's groups", groupNames(c), "All Employees", "App3_Users", "Engineering", "Engineering-Backend")
	if c.InitiatedByUPN != "alice.andersen@mycompany.com" || c.InitiatedByID != e.co.Admin.ID {
		t.Errorf("initiatedBy = %q/%q, want the admin", c.InitiatedByID, c.InitiatedByUPN)
	}
	if c.ActivityDateTime.IsZero() || time.Since(c.ActivityDateTime) > time.Minute {
		t.Errorf("activityDateTime = %v", c.ActivityDateTime)
	}

	must(t, e.co.UpdateUser(e.co.Sync, e.user("david.kim"), map[string]any{"department": "Platform"}))
	_, recs = e.collect(t)
	d := recs[e.user("david.kim")]
	if !strings.HasPrefix(d.InitiatedByUPN, "Sync_") {
		t.Errorf("change by the sync account: initiatedByUpn = %q", d.InitiatedByUPN)
	}

	if _, recs = e.collect(t); len(recs) != 0 {
		t.Errorf("no change: emitted %v", e.names(recs))
	}
}

func TestNestedGroupChangesPropagate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 5, nil)
	e.collect(t)
	eng, backend := e.co.Groups["Engineering"], e.co.Groups["Engineering-Backend"]

	must(t, e.co.RemoveMember(e.co.Admin, eng, backend))
	_, recs := e.collect(t)
	wantSet(t, "affected by un-nesting", e.names(recs), "bjorn.odegard", "chloe.martin")
	b := recs[e.user("bjorn.odegard")]
	wantSet(t, "bjørn's groups", groupNames(b), "Engineering-Backend")
	wantSet(t, "bjørn's roles", roleNames(b), []string{}...)

	must(t, e.co.AddMember(e.co.Admin, eng, backend))
	_, recs = e.collect(t)
	wantSet(t, "affected by nesting", e.names(recs), "bjorn.odegard", "chloe.martin")
	wantSet(t, "bjørn's roles", roleNames(recs[e.user("bjorn.odegard")]), "Application1/Employees", "HR Portal/Reader")

	must(t, e.co.RenameGroup(e.co.Admin, eng, "R&D"))
	_, recs = e.collect(t)
	wantSet(t, "affected by rename", e.names(recs), "john.smith", "bjorn.odegard", "chloe.martin", "david.kim", "eva.schmidt")
	wantSet(t, "john's groups", groupNames(recs[e.user("john.smith")]), "All Employees", "R&D")

	// A cycle (Entra allows it) ends the walk: both groups hold the member.
	g1 := e.co.AddGroup(e.co.Admin, "", "Loop A")
	g2 := e.co.AddGroup(e.co.Admin, "", "Loop B")
	must(t, e.co.AddMember(e.co.Admin, g1, g2))
	must(t, e.co.AddMember(e.co.Admin, g2, g1))
	must(t, e.co.AddMember(e.co.Admin, g1, e.user("nora.hansen")))
	_, recs = e.collect(t)
	wantSet(t, "affected by cycle", e.names(recs), "nora.hansen")
	wantSet(t, "nora's groups", groupNames(recs[e.user("nora.hansen")]), "All Employees", "App4_Staff", "Loop A", "Loop B", "Operations")

	must(t, e.co.DeleteGroup(e.co.Admin, g2))
	_, recs = e.collect(t)
	wantSet(t, "affected by group delete", e.names(recs), "nora.hansen")
	wantSet(t, "nora's groups", groupNames(recs[e.user("nora.hansen")]), "All Employees", "App4_Staff", "Loop A", "Operations")
}

func TestLargeGroupMembersSplitOverPages(t *testing.T) {
	e := newEnv(t, 4, nil)
	e.collect(t)
	big := e.co.AddGroup(e.co.Admin, "", "App3_Everyone")
	for _, n := range members[:12] {
		must(t, e.co.AddMember(e.co.Admin, big, e.user(n)))
	}
	_, recs := e.collect(t)
	wantSet(t, "new members", e.names(recs), members[:12]...)
	for _, n := range members[:12] {
		if !strings.Contains(strings.Join(groupNames(recs[e.user(n)]), ","), "App3_Everyone") {
			t.Errorf("%s lacks App3_Everyone: %v", n, groupNames(recs[e.user(n)]))
		}
	}
	// A cold start reads the same group in full, split over pages with the group repeated.
	e.src = e.newSource(t)
	_, recs = e.collect(t)
	n := 0
	for _, r := range recs {
		if strings.Contains(strings.Join(groupNames(r), ","), "App3_Everyone") {
			n++
		}
	}
	if n != 12 {
		t.Errorf("after a full sync %d users hold App3_Everyone, want 12", n)
	}
}

func TestRolesDirectAndThroughGroups(t *testing.T) {
	e := newEnv(t, 50, nil)
	e.collect(t)
	sales := e.co.Groups["Sales"]
	must(t, e.co.AssignAppRole(e.co.Admin, e.co.App1, sales, "Employees"))
	_, recs := e.collect(t)
	wantSet(t, "role through group", e.names(recs), "fatima.khan", "george.brown", "hanna.berg", "ivan.petrov")
	wantSet(t, "george's roles", roleNames(recs[e.user("george.brown")]), "Application1/Employees", "HR Portal/Reader")
	if g := recs[e.user("george.brown")]; g.InitiatedByUPN != "alice.andersen@mycompany.com" {
		t.Errorf("role through group: initiator %q, want the admin from the group's audit row", g.InitiatedByUPN)
	}

	must(t, e.co.AssignAppRole(e.co.Admin, e.co.HRPortal, e.user("karl.nilsen"), "Manager"))
	_, recs = e.collect(t)
	wantSet(t, "direct role", e.names(recs), "karl.nilsen")
	k := recs[e.user("karl.nilsen")]
	wantSet(t, "karl's roles", roleNames(k), "HR Portal/Manager", "HR Portal/Reader")
	if k.InitiatedByUPN != "alice.andersen@mycompany.com" {
		t.Errorf("role grant initiator = %q", k.InitiatedByUPN)
	}

	must(t, e.co.UnassignAppRole(e.co.Admin, e.co.App1, sales, "Employees"))
	_, recs = e.collect(t)
	wantSet(t, "role revoked through group", e.names(recs), "fatima.khan", "george.brown", "hanna.berg", "ivan.petrov")
	wantSet(t, "george's roles", roleNames(recs[e.user("george.brown")]), "HR Portal/Reader")

	// Without the audit log (no row for the change), the periodic re-read still finds assignments.
	must(t, e.co.AssignAppRole(graph.Actor{}, e.co.App1, e.user("paula.silva"), "Admins"))
	e.opts.RoleRefresh = time.Minute
	e.src.opts.RoleRefresh = time.Minute
	e.clock.Add(int64(2 * time.Minute))
	_, recs = e.collect(t)
	wantSet(t, "found by periodic re-read", e.names(recs), "paula.silva")
}

func TestApplicationsFilter(t *testing.T) {
	e := newEnv(t, 50, func(_ *config.Tenant, o *Options) { o.Applications = []string{"HR Portal"} })
	_, recs := e.collect(t)
	wantSet(t, "john's roles", roleNames(recs[e.user("john.smith")]), "HR Portal/Reader")
}

func TestSoftAndHardDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7, nil)
	e.collect(t)
	george := e.user("george.brown")
	must(t, e.co.DeleteUser(e.co.Admin, george))
	_, recs := e.collect(t)
	r, ok := recs[george]
	if !ok || r.Removed || r.Data["accountEnabled"] != false || r.Data["userPrincipalName"] != "george.brown@mycompany.com" {
		t.Fatalf("soft delete: record %+v, want a change with accountEnabled false and the known attributes", r)
	}

	// A cold start sees the recycle bin too: still deactivated, not deleted.
	e.src = e.newSource(t)
	_, recs = e.collect(t)
	if r := recs[george]; r.Removed || r.Data["accountEnabled"] != false {
		t.Errorf("soft-deleted user after a full sync: %+v", r)
	}

	must(t, e.co.RestoreUser(e.co.Admin, george))
	_, recs = e.collect(t)
	if r := recs[george]; r.Removed || r.Data["accountEnabled"] != true {
		t.Errorf("restore: %+v", r)
	}

	must(t, e.co.PurgeUser(e.co.Admin, george))
	_, recs = e.collect(t)
	if r := recs[george]; !r.Removed || r.Data != nil {
		t.Errorf("hard delete: %+v, want Removed", r)
	}
	// The removal also took him out of Sales and App3_Users: nobody else changed.
	wantSet(t, "after purge", e.names(recs), "george.brown")
}

func TestResyncOnExpiredDeltaToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7, nil)
	e.collect(t)
	must(t, e.co.UpdateUser(e.co.Admin, e.user("eva.schmidt"), map[string]any{"jobTitle": "Senior Consultant"}))
	e.srv.ExpireDeltaTokens()
	full, recs := e.collect(t)
	if !full {
		t.Fatal("410 must give a full resync")
	}
	wantSet(t, "resync emits everyone", e.names(recs), members...)
	if recs[e.user("eva.schmidt")].Data["jobTitle"] != "Senior Consultant" {
		t.Error("change made while the token expired is missing")
	}
	gone := 0
	for _, r := range e.srv.Requests() {
		if r.Status == 410 {
			gone++
		}
	}
	if gone == 0 {
		t.Error("the imitation never answered 410")
	}
	if full, recs = e.collect(t); full || len(recs) != 0 {
		t.Errorf("after the resync: full=%v records %v, want an empty incremental", full, e.names(recs))
	}
}

func TestResyncBeforeDeltaLinkExpires(t *testing.T) {
	e := newEnv(t, 50, nil)
	e.collect(t)
	e.clock.Add(int64(DefaultResyncAfter + time.Hour))
	if full, _ := e.collect(t); !full {
		t.Error("a delta link older than ResyncAfter must give a full collection")
	}
}

func TestThrottlingHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 7, nil)
	e.collect(t)
	must(t, e.co.UpdateUser(e.co.Admin, e.user("hanna.berg"), map[string]any{"city": "Bergen"}))
	e.srv.Throttle(3, time.Second)
	_, recs := e.collect(t)
	if recs[e.user("hanna.berg")].Data["city"] != "Bergen" {
		t.Fatalf("change lost under throttling: %v", e.names(recs))
	}
	reqs := e.srv.Requests()
	n429 := 0
	for i, r := range reqs {
		if r.Status != 429 {
			continue
		}
		n429++
		// The next request of the same path must wait for Retry-After.
		for _, next := range reqs[i+1:] {
			if next.Path == r.Path && next.Query == r.Query {
				if gap := next.At.Sub(r.At); gap < 950*time.Millisecond {
					t.Errorf("%s retried after %v, Retry-After was 1s", r.Path, gap)
				}
				break
			}
		}
	}
	if n429 != 3 {
		t.Errorf("throttled answers = %d, want 3", n429)
	}
}

func TestLimitPercentageSlowsDown(t *testing.T) {
	e := newEnv(t, 50, nil)
	e.srv.SetLimitPercentage(0.9)
	e.collect(t)
	if e.src.c.slow < 900*time.Millisecond {
		t.Errorf("at 90%% of the limit the client pauses %v per request, want about 1s", e.src.c.slow)
	}
	e.srv.SetLimitPercentage(0)
	e.collect(t)
	if e.src.c.slow != 0 {
		t.Errorf("below 80%% the client still pauses %v", e.src.c.slow)
	}
}

func TestGuestsAndSkippedPrefixes(t *testing.T) {
	e := newEnv(t, 50, func(c *config.Tenant, _ *Options) {
		c.General.Entra.IncludeGuestUsers = true
		c.General.Entra.SkipUPNStartsWith = []string{"svc", "SYNC_"}
	})
	_, recs := e.collect(t)
	want := append([]string{"guest.partner"}, members[:19]...)
	wantSet(t, "users with guests, without svc/sync", e.names(recs), want...)

	e2 := newEnv(t, 50, nil)
	must(t, e2.co.UpdateUser(e2.co.Admin, e2.user("guest.partner"), map[string]any{"jobTitle": "Partner"}))
	e2.collect(t)
	must(t, e2.co.UpdateUser(e2.co.Admin, e2.user("guest.partner"), map[string]any{"jobTitle": "Partner lead"}))
	if _, recs := e2.collect(t); len(recs) != 0 {
		t.Errorf("guest change emitted without include_guest_users: %v", e2.names(recs))
	}
}

func TestUseOriginalGroupID(t *testing.T) {
	e := newEnv(t, 50, func(c *config.Tenant, _ *Options) { c.General.Entra.UseOriginalGroupID = true })
	_, recs := e.collect(t)
	for _, g := range recs[e.user("john.smith")].Data["groups"].([]any) {
		m := g.(map[string]any)
		if m["value"] != e.co.Groups[m["display"].(string)] {
			t.Errorf("group %v: value must be the object id", m)
		}
	}
}

func TestManagerRenamePropagatesToReports(t *testing.T) {
	e := newEnv(t, 50, nil)
	e.collect(t)
	must(t, e.co.UpdateUser(e.co.Admin, e.user("oscar.lind"), map[string]any{"displayName": "Oscar Lindqvist"}))
	_, recs := e.collect(t)
	wantSet(t, "manager renamed", e.names(recs), "oscar.lind", "paula.silva", "quentin.dubois")
	if m := recs[e.user("paula.silva")].Data["manager"].(map[string]any); m["displayName"] != "Oscar Lindqvist" {
		t.Errorf("manager = %v", m)
	}
	must(t, e.co.SetManager(e.co.Admin, e.user("paula.silva"), e.user("alice.andersen")))
	_, recs = e.collect(t)
	if m := recs[e.user("paula.silva")].Data["manager"].(map[string]any); m["userPrincipalName"] != "alice.andersen@mycompany.com" {
		t.Errorf("new manager = %v", m)
	}
}

func TestSelectFromMapperPaths(t *testing.T) {
	e := newEnv(t, 50, func(_ *config.Tenant, o *Options) {
		o.Select = []string{"department", "physicalDeliveryOfficeName", "employeeOrgData.costCenter", "manager.displayName", "groups", "extension_abc_badge"}
	})
	_, recs := e.collect(t)
	j := recs[e.user("john.smith")].Data
	if j["department"] != "Engineering" || j["physicalDeliveryOfficeName"] != "Oslo HQ" {
		t.Errorf("selected attributes missing: %v", j)
	}
	if _, ok := j["jobTitle"]; ok {
		t.Errorf("jobTitle was not selected but is present")
	}
	q := e.requests("/users/delta")[0].Query
	if strings.Contains(q, "extension_abc_badge") || !strings.Contains(q, "officeLocation") {
		t.Errorf("users/delta query %q: unknown property must be left out, officeLocation asked", q)
	}
}

func TestEmitErrorKeepsCheckpoint(t *testing.T) {
	e := newEnv(t, 7, nil)
	e.collect(t)
	before, _ := e.cp.Get(context.Background(), cpKey)
	must(t, e.co.UpdateUser(e.co.Admin, e.user("lena.fischer"), map[string]any{"jobTitle": "Head Dog Trainer"}))
	must(t, e.co.UpdateUser(e.co.Admin, e.user("rita.moreau"), map[string]any{"jobTitle": "Programme Manager"}))
	boom := errors.New("publish failed")
	n := 0
	_, err := e.src.Collect(context.Background(), e.cp, func(collector.Record) error {
		if n++; n == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("collect error = %v, want the emit error", err)
	}
	after, _ := e.cp.Get(context.Background(), cpKey)
	if string(before) != string(after) {
		t.Error("sync point advanced although an emit failed")
	}
	// The next collection repeats: both changes come again.
	_, recs := e.collect(t)
	if recs[e.user("lena.fischer")].Data["jobTitle"] != "Head Dog Trainer" || recs[e.user("rita.moreau")].Data["jobTitle"] != "Programme Manager" {
		t.Errorf("changes lost after a failed emit: %v", e.names(recs))
	}
}

func TestRestartResumesFromCheckpoint(t *testing.T) {
	e := newEnv(t, 7, nil)
	e.collect(t)
	// A new process (new source) over the same checkpoints: a full sync that still reads the recycle bin, and
	// then incremental collections.
	e.src = e.newSource(t)
	if full, _ := e.collect(t); !full {
		t.Error("a new process has no directory picture: full sync expected")
	}
	must(t, e.co.UpdateUser(e.co.Admin, e.user("ivan.petrov"), map[string]any{"jobTitle": "Principal Consultant"}))
	if full, recs := e.collect(t); full || len(recs) != 1 {
		t.Errorf("after restart: full=%v records %v", full, e.names(recs))
	}
}

func TestBadCredentials(t *testing.T) {
	e := newEnv(t, 7, func(c *config.Tenant, _ *Options) {
		c.Auth.OAuth.Clients = []config.OAuthClient{{ClientID: "client-one", ClientSecret: "wrong"}}
	})
	_, err := e.src.Collect(context.Background(), e.cp, func(collector.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "entra.mycompany") {
		t.Fatalf("wrong secret: err = %v, want an error naming the tenant", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the secret: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Tenant
		want string
	}{
		{"no tenant id", config.Tenant{}, "general.entra.tenant_id"},
		{"http graph", config.Tenant{General: config.General{Entra: config.EntraGeneral{TenantID: "x", GraphURL: "http://graph"}}}, "graph_url"},
		{"empty secret", config.Tenant{Auth: config.Auth{OAuth: &config.OAuth{Clients: []config.OAuthClient{{ClientID: "a"}}}},
			General: config.General{Entra: config.EntraGeneral{TenantID: "x"}}}, "clients[0]"},
	} {
		_, err := New("t", &tc.cfg, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %s", tc.name, err, tc.want)
		}
	}
}

func TestAttributionWaitHoldsUntilAuditRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 50, func(_ *config.Tenant, o *Options) { o.AttributionWait = time.Minute })
	e.collect(t)
	e.co.SetAuditDelay(time.Second)
	must(t, e.co.UpdateUser(e.co.Sync, e.user("julia.rossi"), map[string]any{"jobTitle": "Chief People Officer"}))
	if _, recs := e.collect(t); len(recs) != 0 {
		t.Fatalf("change published before its audit row: %v", e.names(recs))
	}
	time.Sleep(1100 * time.Millisecond)
	_, recs := e.collect(t)
	j, ok := recs[e.user("julia.rossi")]
	if !ok || j.Data["jobTitle"] != "Chief People Officer" || !strings.HasPrefix(j.InitiatedByUPN, "Sync_") {
		t.Fatalf("held change: %+v", j)
	}
	if _, recs = e.collect(t); len(recs) != 0 {
		t.Errorf("released change published again: %v", e.names(recs))
	}
}

func TestAttributionWaitGivesUp(t *testing.T) {
	e := newEnv(t, 50, func(_ *config.Tenant, o *Options) { o.AttributionWait = time.Second })
	e.collect(t)
	e.co.SetAuditDelay(time.Hour)
	must(t, e.co.UpdateUser(e.co.Admin, e.user("karl.nilsen"), map[string]any{"jobTitle": "HR Partner"}))
	if _, recs := e.collect(t); len(recs) != 0 {
		t.Fatalf("published before the wait: %v", e.names(recs))
	}
	e.clock.Add(int64(2 * time.Second))
	_, recs := e.collect(t)
	k, ok := recs[e.user("karl.nilsen")]
	if !ok || k.InitiatedByUPN != "" || k.Data["jobTitle"] != "HR Partner" {
		t.Errorf("after the wait: %+v, want the change with the initiator unknown", k)
	}
}

func TestLateAuditRowNotAttachedToNextChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 50, nil)
	e.collect(t)
	e.co.SetAuditDelay(time.Second)
	must(t, e.co.UpdateUser(e.co.Sync, e.user("nora.hansen"), map[string]any{"jobTitle": "Facilities Manager"}))
	_, recs := e.collect(t)
	if n := recs[e.user("nora.hansen")]; n.InitiatedByUPN != "" {
		t.Fatalf("audit row visible before its delay: %q", n.InitiatedByUPN)
	}
	time.Sleep(1100 * time.Millisecond)
	e.co.SetAuditDelay(time.Hour)
	must(t, e.co.UpdateUser(e.co.Admin, e.user("nora.hansen"), map[string]any{"jobTitle": "Head of Facilities"}))
	_, recs = e.collect(t)
	if n := recs[e.user("nora.hansen")]; strings.HasPrefix(n.InitiatedByUPN, "Sync_") {
		t.Errorf("the admin's change was attributed to the sync account's earlier change")
	}
}

func TestLeavingScopeIsARemoval(t *testing.T) {
	e := newEnv(t, 50, func(c *config.Tenant, _ *Options) { c.General.Entra.SkipUPNStartsWith = []string{"svc"} })
	e.collect(t)
	rita := e.user("rita.moreau")
	must(t, e.co.UpdateUser(e.co.Admin, rita, map[string]any{"userPrincipalName": "svc.rita@mycompany.com"}))
	_, recs := e.collect(t)
	if r, ok := recs[rita]; !ok || !r.Removed {
		t.Fatalf("user renamed into a skipped prefix: %+v, want a removal", r)
	}
	must(t, e.co.UpdateUser(e.co.Admin, rita, map[string]any{"userPrincipalName": "rita.moreau@mycompany.com"}))
	_, recs = e.collect(t)
	if r := recs[rita]; r.Removed || r.Data["userPrincipalName"] != "rita.moreau@mycompany.com" || r.Data["jobTitle"] != "Project Manager" {
		t.Errorf("back in scope: %+v, want the full user", r)
	}
}

func TestAuditBudgetRespected(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, nil, func(e *env) { e.auditBudget = true })
	e.srv.SetAuditBudget(5)
	e.collect(t)
	start := time.Now()
	n := 0
	for time.Since(start) < 11*time.Second {
		n++
		must(t, e.co.UpdateUser(e.co.Admin, e.user("paula.silva"), map[string]any{"jobTitle": fmt.Sprintf("Accountant %d", n)}))
		e.collect(t)
		time.Sleep(200 * time.Millisecond)
	}
	audits := e.requests("/auditLogs/")
	// Had the budget delayed the collections, each would have waited for its poll (one per 10/3 s): as many
	// collections as polls. Counting rather than timing each collection keeps this true on a loaded machine.
	if n < 2*len(audits) {
		t.Errorf("%d collections for %d audit polls in 11 s: the audit budget must defer the poll, not the collection", n, len(audits))
	}
	for _, r := range audits {
		if r.Status == 429 {
			t.Fatalf("directoryAudits throttled at %v: the source exceeded 5 requests per 10 s", r.At.Sub(start))
		}
	}
	// One at once, then one per 10/3 s over 11 s.
	if len(audits) < 3 || len(audits) > 5 {
		t.Errorf("%d audit polls in %d collections over 11 s, want 3 to 5", len(audits), n)
	}
}

func TestNestingBySyncAttributedToMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 50, func(_ *config.Tenant, o *Options) { o.AttributionWait = time.Minute })
	e.collect(t)
	// Entra Connect nests an on-premises group: the members have no audit row of their own, the group has.
	must(t, e.co.AddMember(e.co.Sync, e.co.Groups["App3_Users"], e.co.Groups["Consultants"]))
	_, recs := e.collect(t)
	wantSet(t, "nested by sync", e.names(recs), "eva.schmidt", "ivan.petrov")
	for _, r := range recs {
		if !strings.HasPrefix(r.InitiatedByUPN, "Sync_") {
			t.Errorf("%s: initiator %q, want the sync account", r.ID, r.InitiatedByUPN)
		}
	}
}

func TestAttributionWaitHoldsDeletions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 50, func(_ *config.Tenant, o *Options) { o.AttributionWait = time.Minute })
	e.collect(t)
	e.co.SetAuditDelay(time.Second)
	quentin := e.user("quentin.dubois")
	must(t, e.co.PurgeUser(e.co.Sync, quentin))
	if _, recs := e.collect(t); len(recs) != 0 {
		t.Fatalf("deletion published before its audit row: %v", e.names(recs))
	}
	time.Sleep(1100 * time.Millisecond)
	_, recs := e.collect(t)
	if r, ok := recs[quentin]; !ok || !r.Removed || !strings.HasPrefix(r.InitiatedByUPN, "Sync_") {
		t.Fatalf("held deletion: %+v, want a removal by the sync account", r)
	}
	if _, recs = e.collect(t); len(recs) != 0 {
		t.Errorf("released deletion published again: %v", e.names(recs))
	}
}
