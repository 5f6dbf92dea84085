package rules

import (
	"reflect"
	"testing"

	"github.com/scim-stream/scim-stream/config"
)

// The Entra collector reads role assignments and the audit log only for what the rules use: a tenant whose
// channels never test roles or initiatedBy does no extra Graph work.
func TestNeeds(t *testing.T) {
	streams := func(filters ...string) []config.Stream {
		var s []config.Stream
		for _, f := range filters {
			s = append(s, config.Stream{Channel: "C", Rules: []config.Filter{{Filter: f}}})
		}
		return s
	}
	for _, c := range []struct {
		filters []string
		want    Needs
	}{
		{[]string{`(user.title -match "X")`}, Needs{}},
		{[]string{`(user.roles.Application1.value -match "Employees")`, `(user.roles.HR Portal.display -match ".*") and (initiatedByUpn -match "(?!Sync_.*)")`},
			Needs{MessageFields: true, RoleTypes: []string{"Application1", "HR Portal"}}},
		{[]string{`(user.roles.value -match "Admins")`}, Needs{AllRoles: true}},
		// Known without the audit log: no reason to wait for it.
		{[]string{`(activityOperation -match "deleteUser")`, `(targetUpn -match ".*@x.com")`}, Needs{}},
		{[]string{`(.*)`}, Needs{AllRoles: true}},
		{[]string{`(user.groups.display -match "App1_.*")`, `(user.roles.b1c2-app.value -match ".*")`, `(user.roles.b1c2-app.display -match "A")`},
			Needs{RoleTypes: []string{"b1c2-app"}}},
	} {
		r, err := Compile(streams(c.filters...))
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Needs(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: Needs = %+v, want %+v", c.filters, got, c.want)
		}
	}
	// A filter used for matching only: (.*) tests nothing and needs nothing.
	f, err := CompileFilter(`(.*)`)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Needs(); !reflect.DeepEqual(got, Needs{}) {
		t.Errorf("(.*) as a match-only filter needs %+v", got)
	}
	if got := (Needs{RoleTypes: []string{"B"}}).Merge(Needs{MessageFields: true, RoleTypes: []string{"A", "B"}}); !reflect.DeepEqual(got, Needs{MessageFields: true, RoleTypes: []string{"A", "B"}}) {
		t.Errorf("Merge = %+v", got)
	}
}
