package entra_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/collector/entra"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
	"github.com/scim-stream/scim-stream/wire"
)

// TestOptionsForExample: the documentation example reads the default mapper's properties, every application
// (APP5 is (.*), which carries every role) and publishes at once (no rule asks who made a change). The caller's
// own options are kept.
func TestOptionsForExample(t *testing.T) {
	co := graph.NewCompany(nil)
	srv := graph.NewServer(co.Tenant)
	ts := srv.Start()
	defer ts.Close()
	tc := exampleTenant(t, co, srv, ts)
	tenant, err := collector.Compile(tenantName, wire.Entra, tc)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	hc := &http.Client{}
	o := entra.OptionsFor(tenant, entra.Options{HTTPClient: hc, Log: log, RoleRefresh: time.Minute,
		Select: []string{"stale"}, Applications: []string{"stale"}, AttributionWait: time.Hour})
	if o.HTTPClient != hc || o.Log != log || o.RoleRefresh != time.Minute {
		t.Errorf("the caller's options were not kept: %+v", o)
	}
	if !slices.Equal(o.Select, tenant.Mapper.SourcePaths()) || !slices.Contains(o.Select, "manager.userPrincipalName") ||
		!slices.Contains(o.Select, "employeeOrgData.division") {
		t.Errorf("Select = %q, want the default mapper's source paths", o.Select)
	}
	if o.Applications != nil {
		t.Errorf("Applications = %q, want every application (APP5 is (.*))", o.Applications)
	}
	if o.AttributionWait != 0 {
		t.Errorf("AttributionWait = %v, want 0: no rule reads initiatedBy", o.AttributionWait)
	}
}

// TestOptionsForNamedApplications: without a rule that keeps every role, only the applications that rules and
// dynamics name are read, whichever way a rule spells the name (rules compare role types case-insensitively),
// and a rule on initiatedByUpn turns on the configured attribution wait. Checked on what the source built with
// these options reads from the imitation.
func TestOptionsForNamedApplications(t *testing.T) {
	co := graph.NewCompany(nil)
	payroll := co.AddApplication(co.Admin, "", "Payroll", graph.AppRole{DisplayName: "Clerk", Value: "Clerk"})
	travel := co.AddApplication(co.Admin, "", "Travel", graph.AppRole{DisplayName: "Booker", Value: "Booker"})
	john := co.Users["john.smith"]
	must(t, co.AssignAppRole(co.Admin, payroll, john, "Clerk"))
	must(t, co.AssignAppRole(co.Admin, travel, john, "Booker"))
	srv := graph.NewServer(co.Tenant)
	ts := srv.Start()
	defer ts.Close()
	tc := exampleTenant(t, co, srv, ts)
	tc.Streams = []config.Stream{
		syncRule(co.App1), // App1 by object id, and initiatedByUpn
		{Channel: "HR", Rules: []config.Filter{{Filter: `(user.roles.hr portal.value -match "Reader")`}}},
	}
	tc.Dynamics = []config.Dynamic{{DynamicID: "payroll-clerks", Rules: []config.Filter{{Filter: `(user.roles.Payroll.value -match "Clerk")`}},
		Assignments: []config.Assignment{{Path: "user.groups", Value: []any{map[string]any{"display": "Clerks", "value": "Clerks"}}}}}}
	tc.Mapper.User = []config.Mapping{{Source: "onPremisesSamAccountName", MapTo: "nickName"}}
	tc.General.Entra.AttributionWait = 42
	tenant, err := collector.Compile(tenantName, wire.Entra, tc)
	if err != nil {
		t.Fatal(err)
	}
	o := entra.OptionsFor(tenant, entra.Options{HTTPClient: ts.Client()})
	if want := sorted([]string{co.App1, "hr portal", "Payroll"}); !slices.Equal(sorted(o.Applications), want) {
		t.Errorf("Applications = %q, want %q", o.Applications, want)
	}
	if o.AttributionWait != 42*time.Second {
		t.Errorf("AttributionWait = %v, want general.entra.attribution_wait (42 s)", o.AttributionWait)
	}
	if !slices.Contains(o.Select, "onPremisesSamAccountName") {
		t.Errorf("Select = %q, want the tenant's own mapping's source too", o.Select)
	}

	src, err := entra.New(tenantName, tc, o)
	if err != nil {
		t.Fatal(err)
	}
	env := brokertest.Start(t, tenantName)
	cp := collector.NewState(env.StateKV(t, tenantName, wire.Entra)).Checkpoints()
	var roles []string
	if _, err := src.Collect(context.Background(), cp, func(r collector.Record) error {
		if r.ID == john {
			for _, x := range r.Roles {
				roles = append(roles, x.Application+"/"+x.Value)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Application1/Admins", "Application1/Employees", "HR Portal/Reader", "Payroll/Clerk"}; !slices.Equal(sorted(roles), want) {
		t.Errorf("john's roles = %q, want %q (Travel is named by no rule)", roles, want)
	}
	for _, r := range srv.Requests() {
		if strings.Contains(r.Path, travel) {
			t.Errorf("Travel's assignments were read: %s", r.Path)
		}
		if strings.HasSuffix(r.Path, "/users/delta") && r.Query != "" && !strings.Contains(r.Query, "onPremisesSamAccountName") {
			t.Errorf("users/delta without the mapped property: %s", r.Query)
		}
	}
}
