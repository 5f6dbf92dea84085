package gateway

import (
	"slices"
	"testing"

	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

func refValues(rs []groupRef) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Value+"|"+r.Display)
	}
	return out
}

func TestPrepareReadsEveryGroupAndRoleForm(t *testing.T) {
	a := newApplier(nil, entityOptions{softSync: true})
	m := &wire.Message{
		ActivityOperation: wire.ModifyUser,
		User: scim.User{
			"userName": "x@acme.com",
			// The product documentation's example uses {displayName, id}; the stream publishes {display, value}.
			"groups": []any{map[string]any{"displayName": "Employees", "id": "Employees"}, map[string]any{"value": "g2", "display": "Group 2"}},
			"roles":  []any{map[string]any{"type": "App1", "display": "Admin access", "value": "Admins"}},
		},
		Operations: []scim.Operation{
			{Op: "Remove", Path: `groups[value eq "old1"]`},
			{Op: "remove", Path: "groups", Value: []any{map[string]any{"value": "old2"}}},
			{Op: "remove", Path: "roles", Value: []any{map[string]any{"type": "App1", "display": "User access", "value": "Users"}}},
			// Still granted through the role: not removed.
			{Op: "remove", Path: "groups", Value: []any{map[string]any{"value": "Admins"}}},
			{Op: "add", Path: "groups", Value: []any{map[string]any{"value": "g2"}}},
		},
	}
	p := a.prepare(m)
	if got, want := refValues(p.groups), []string{"Employees|Employees", "g2|Group 2", "Admins|App1 - Admin access"}; !slices.Equal(got, want) {
		t.Errorf("groups %v, want %v", got, want)
	}
	if got, want := refValues(p.removed), []string{"old1|old1", "old2|old2", "Users|App1 - User access"}; !slices.Equal(got, want) {
		t.Errorf("removed %v, want %v", got, want)
	}
	if p.lastRemoved {
		t.Error("lastRemoved with groups left")
	}
	if _, has := p.user["groups"]; has {
		t.Error("groups left in the user attributes")
	}
	if _, has := p.user["roles"]; has {
		t.Error("converted roles left in the user attributes")
	}
}

func TestPrepareTurnsAttributeRemovalsIntoNullsForSoftSyncOnly(t *testing.T) {
	m := &wire.Message{
		User: scim.User{
			"userName":                "x@acme.com",
			"name":                    map[string]any{"givenName": "X"},
			scim.EnterpriseUserSchema: map[string]any{"department": "Sales"},
			"emails":                  []any{map[string]any{"type": "home", "value": "x@home"}},
		},
		Operations: []scim.Operation{
			{Op: "remove", Path: "title"},
			{Op: "remove", Path: "name.middleName"},
			{Op: "remove", Path: scim.EnterpriseUserSchema + ":manager.value"},
			{Op: "remove", Path: scim.EnterpriseUserSchema + ":costCenter"},
			{Op: "remove", Path: `emails[type eq "work"].value`},
		},
	}
	p := newApplier(nil, entityOptions{softSync: true}).prepare(m)
	u := p.user
	if v, has := u["title"]; !has || v != nil {
		t.Errorf("title: %v %v, want null", v, has)
	}
	if v, has := u["name"].(map[string]any)["middleName"]; !has || v != nil {
		t.Errorf("name.middleName: %v %v, want null", v, has)
	}
	ext := u[scim.EnterpriseUserSchema].(map[string]any)
	if v, has := ext["costCenter"]; !has || v != nil {
		t.Errorf("enterprise costCenter: %v %v, want null", v, has)
	}
	if m, _ := ext["manager"].(map[string]any); m == nil || len(m) != 1 || m["value"] != nil {
		t.Errorf("enterprise manager: %v, want {value: null}", ext["manager"])
	}
	if emails := u["emails"].([]any); len(emails) != 1 {
		t.Errorf("emails changed: %v (a filtered path is carried by the whole array)", emails)
	}
	p = newApplier(nil, entityOptions{softSync: false}).prepare(m)
	if _, has := p.user["title"]; has {
		t.Error("replace mode got a null attribute")
	}
}

func TestPrepareLastRemoved(t *testing.T) {
	rm := scim.Operation{Op: "remove", Path: "roles", Value: []any{map[string]any{"type": "A", "value": "v"}}}
	for _, c := range []struct {
		name string
		skip bool
		user scim.User
		ops  []scim.Operation
		want bool
	}{
		{"last role removed", false, scim.User{"userName": "u"}, []scim.Operation{rm}, true},
		{"a group is left", false, scim.User{"userName": "u", "groups": []any{map[string]any{"value": "g"}}}, []scim.Operation{rm}, false},
		{"no removal", false, scim.User{"userName": "u"}, nil, false},
		{"roles kept as roles, one left", true, scim.User{"userName": "u", "roles": []any{map[string]any{"value": "w"}}}, []scim.Operation{rm}, false},
		{"roles kept as roles, none left", true, scim.User{"userName": "u"}, []scim.Operation{rm}, true},
	} {
		e := Entity{SkipConvertRolesToGroups: c.skip}
		p := newApplier(nil, entityOptions{Entity: e}).prepare(&wire.Message{User: c.user, Operations: c.ops})
		if p.lastRemoved != c.want {
			t.Errorf("%s: lastRemoved = %v, want %v", c.name, p.lastRemoved, c.want)
		}
	}
}

func TestPrepareRemovalsWithoutValues(t *testing.T) {
	// The whole attribute removed, no value array: which memberships ended cannot be told.
	m := &wire.Message{User: scim.User{"userName": "u"}, Operations: []scim.Operation{{Op: "remove", Path: "roles"}}}
	p := newApplier(nil, entityOptions{softSync: true}).prepare(m)
	if !slices.Equal(p.unnamed, []string{"roles"}) || !p.lastRemoved || len(p.removed) != 0 {
		t.Errorf("remove roles without a value: unnamed %v lastRemoved %v removed %v", p.unnamed, p.lastRemoved, p.removed)
	}
	// A value filter names the value.
	m.Operations = []scim.Operation{{Op: "remove", Path: `groups[value eq "g1"]`}}
	if p := newApplier(nil, entityOptions{softSync: true}).prepare(m); len(p.unnamed) != 0 || len(p.removed) != 1 {
		t.Errorf("remove with a value filter: unnamed %v removed %v", p.unnamed, p.removed)
	}
	// Roles kept as roles: the last one gone is a null for soft sync (the attribute is absent from the user).
	m.Operations = []scim.Operation{{Op: "remove", Path: "roles", Value: []any{map[string]any{"value": "r1"}}}}
	skip := entityOptions{softSync: true, Entity: Entity{SkipConvertRolesToGroups: true}}
	if v, has := newApplier(nil, skip).prepare(m).user["roles"]; !has || v != nil {
		t.Errorf("soft sync, roles kept, last removed: roles = %v (present %v), want null", v, has)
	}
	skip.softSync = false
	if _, has := newApplier(nil, skip).prepare(m).user["roles"]; has {
		t.Error("replace mode got a null roles attribute")
	}
}
