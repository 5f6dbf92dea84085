package dynamics

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/scim"
)

// docsConfig is the documentation's dynamic-1 example with a stream that selects it.
const docsConfig = `entra:
  mycompany:
    auth: {oauth: {clients: [{client_id: a, client_secret: bcd}]}}
    general: {entra: {tenant_id: x.onmicrosoft.com}}
    streams:
      - channel: DYN
        rules:
          - filter: (user.dynamicIds -match "dynamic-1")
    dynamics:
    - comment: ABAC/RBAC matching title Consultant and will update user with 2 groups, 2 roles including some profile attributes
      dynamic_id: dynamic-1
      rules:
      - filter: (user.title -match ".*Consultant.*")
      assignments:
        user.groups:
        - display: Grp1-name
          value: Grp1-id
        - display: Grp2-name
          value: Grp2-id
        user.roles:
        - display: Admin access
          value: Admin
          type: App1
        - display: Employee access
          value: Employee
          type: App1
        user.addresses:
        - postalCode: 1234
          streetAddress: Back Office Street
          type: work
        user.type: External
`

func loadDocs(t *testing.T) (*Set, *rules.Router) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(docsConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	tn := c.Entra["mycompany"]
	s, err := Compile(tn.Dynamics)
	if err != nil {
		t.Fatal(err)
	}
	r, err := rules.Compile(tn.Streams)
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

func user(t *testing.T, s string) scim.User {
	t.Helper()
	var u scim.User
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// roundTrip stores and reloads Applied the way the pipeline does (JSON in the collector state).
func roundTrip(t *testing.T, a Applied) Applied {
	t.Helper()
	var out Applied
	if err := json.Unmarshal([]byte(js(t, a)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

const source = `{"userName":"john","title":"Senior Consultant","type":"Internal",
	"groups":[{"display":"Employees","value":"Employees"}],
	"roles":[{"type":"App2","display":"User","value":"User"}],
	"addresses":[{"type":"home","postalCode":"91608"}]}`

// TestDocsDynamic: dynamic-1 applied, routed by a stream rule on user.dynamicIds, then revoked when the title
// changes, leaving the source's groups, roles and attributes intact.
func TestDocsDynamic(t *testing.T) {
	s, r := loadDocs(t)
	src := user(t, source)
	srcJSON := js(t, src)
	u, applied := s.Apply(src, Applied{})
	if js(t, src) != srcJSON {
		t.Fatal("Apply modified its input")
	}
	want := `{"addresses":[{"postalCode":"91608","type":"home"},{"postalCode":1234,"streetAddress":"Back Office Street","type":"work"}],` +
		`"dynamicIds":["dynamic-1"],` +
		`"groups":[{"display":"Employees","value":"Employees"},{"display":"Grp1-name","value":"Grp1-id"},{"display":"Grp2-name","value":"Grp2-id"}],` +
		`"roles":[{"display":"User","type":"App2","value":"User"},{"display":"Admin access","type":"App1","value":"Admin"},{"display":"Employee access","type":"App1","value":"Employee"}],` +
		`"title":"Senior Consultant","type":"External","userName":"john"}`
	if got := js(t, u); got != want {
		t.Fatalf("applied:\n%s\nwant\n%s", got, want)
	}
	if len(applied.IDs) != 1 || applied.IDs[0] != "dynamic-1" {
		t.Fatalf("applied = %+v", applied)
	}
	d := r.Route(nil, u, nil)[0]
	if !d.Matched {
		t.Fatal("the dynamicIds stream rule does not select the user")
	}

	// The title changes at the source: the dynamic is revoked.
	src2 := src.Clone()
	src2["title"] = "Engineer"
	u2, applied2 := s.Apply(src2, roundTrip(t, applied))
	if !scim.Equal(map[string]any(u2), map[string]any(src2)) || len(applied2.IDs) != 0 {
		t.Fatalf("after revocation: %s %+v, want the source user %s", js(t, u2), applied2, js(t, src2))
	}
	d = r.Route(u, u2, nil)[0]
	if d.Matched || !d.PreviouslyMatched {
		t.Fatalf("DYN after revocation = %+v", d)
	}
	ops := js(t, scim.Diff(d.Previous, d.Current))
	for _, w := range []string{`"op":"replace","value":"Internal","path":"type"`, `"op":"remove","path":"addresses[type eq \"work\"]"`} {
		if !strings.Contains(ops, w) {
			t.Errorf("operations %s lack %s", ops, w)
		}
	}
	if strings.Contains(ops, "dynamicIds") || d.Previous["dynamicIds"] != nil {
		t.Errorf("dynamicIds reached the message: %s / %s", ops, js(t, d.Previous))
	}
	// A filter without groups/roles terms carries none, dynamic ones included.
	if js(t, d.Previous["groups"]) != `[]` || js(t, d.Current["roles"]) != `[]` {
		t.Errorf("DYN views carry groups/roles: %s / %s", js(t, d.Previous), js(t, d.Current))
	}
	if r.Route(u2, u2, nil)[0].PreviouslyMatched {
		t.Error("still routed after the revocation was published")
	}
}

// TestRevokeStoredUser: a user that already carries dynamics (a stored user) is reverted with the stored Applied
// before the dynamics are evaluated again — groups the source itself gave stay, overwritten values come back.
func TestRevokeStoredUser(t *testing.T) {
	s, _ := loadDocs(t)
	src := user(t, `{"userName":"john","title":"Consultant","type":"Internal",
		"groups":[{"display":"Grp1 from the source","value":"Grp1-id"}],
		"addresses":[{"type":"work","postalCode":"91608","streetAddress":"Main Street"}]}`)
	stored, applied := s.Apply(src, Applied{})
	if n := len(stored["groups"].([]any)); n != 2 {
		t.Fatalf("groups = %s, want the source's Grp1 kept as it is and Grp2 added", js(t, stored["groups"]))
	}
	stateJSON := js(t, applied)
	// Deactivating the stored user while it still matches: nothing doubles.
	again := stored.Clone()
	again["active"] = false
	u, applied2 := s.Apply(again, roundTrip(t, applied))
	if js(t, applied2) != stateJSON {
		t.Errorf("state changed: %s, was %s", js(t, applied2), stateJSON)
	}
	if len(u["groups"].([]any)) != 2 || len(u["roles"].([]any)) != 2 || len(u["addresses"].([]any)) != 1 {
		t.Errorf("re-applied on a stored user: %s", js(t, u))
	}
	// The stored user stops matching: it comes back exactly to the source's view.
	changed := stored.Clone()
	changed["title"] = "Engineer"
	back, none := s.Apply(changed, roundTrip(t, applied))
	wantSrc := src.Clone()
	wantSrc["title"] = "Engineer"
	if !scim.Equal(map[string]any(back), map[string]any(wantSrc)) || len(none.IDs) != 0 {
		t.Errorf("reverted stored user:\n%s\nwant\n%s", js(t, back), js(t, wantSrc))
	}
	if got := Revert(stored, roundTrip(t, applied)); !scim.Equal(map[string]any(got), map[string]any(src)) {
		t.Errorf("Revert:\n%s\nwant\n%s", js(t, got), js(t, src))
	}
}

// TestChainedAndNoDynamics: a later dynamic can select an earlier one; a set without dynamics leaves users alone.
func TestChainedAndNoDynamics(t *testing.T) {
	s, err := Compile([]config.Dynamic{
		{DynamicID: "d1", Rules: []config.Filter{{Filter: `(user.title -match "Consultant")`}}, Assignments: []config.Assignment{{Path: "user.name.givenName", Value: "Dyn"}}},
		{DynamicID: "d2", Rules: []config.Filter{{Filter: `(user.dynamicIds -match "d1")`}}, Assignments: []config.Assignment{{Path: "user.roles", Value: []any{map[string]any{"type": "App9", "value": "X"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, a := s.Apply(user(t, `{"title":"Consultant","name":{"givenName":"John"}}`), Applied{})
	if got := js(t, u); got != `{"dynamicIds":["d1","d2"],"name":{"givenName":"Dyn"},"roles":[{"type":"App9","value":"X"}],"title":"Consultant"}` {
		t.Errorf("chained = %s", got)
	}
	if got := js(t, Revert(u, a)); got != `{"name":{"givenName":"John"},"title":"Consultant"}` {
		t.Errorf("reverted = %s", got)
	}
	var none *Set
	in := user(t, `{"title":"x"}`)
	if out, a := none.Apply(in, Applied{}); js(t, out) != `{"title":"x"}` || js(t, a) != `{}` {
		t.Errorf("nil set: %s %s", js(t, out), js(t, a))
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile([]config.Dynamic{
		{DynamicID: "ok", Line: 3, Rules: []config.Filter{{Filter: `(user.title -match "(")`, Line: 5}}, Assignments: []config.Assignment{{Path: "user.title", Value: "x", Line: 7}}},
		{Line: 9, Rules: []config.Filter{{Filter: `(initiatedByUpn -match "x")`, Line: 11}}, Assignments: []config.Assignment{
			{Path: "user.group", Value: []any{}, Line: 13},
			{Path: "user.groups", Value: []any{map[string]any{"display": "x"}}, Line: 14},
			{Path: "user.roles", Value: []any{map[string]any{"value": "x"}}, Line: 15},
			{Path: "user.dynamicIds", Value: "x", Line: 16},
			{Path: "title", Value: "x", Line: 17},
			{Path: "user.title", Line: 18},
			{Path: "user.x$y", Value: "x", Line: 19},
		}},
		{DynamicID: "ok", Line: 20, Rules: []config.Filter{{Filter: `(.*)`, Line: 21}}},
	})
	var list rules.Errors
	if !errors.As(err, &list) {
		t.Fatalf("error %v, want rules.Errors", err)
	}
	want := []string{
		`dynamics[0].rules[0].filter: line 5, column 20: invalid regular expression`,
		`dynamics[1]: line 9: dynamic_id is mandatory`,
		`dynamics[1].rules[0].filter: line 11: a dynamic depends on the user only`,
		`dynamics[1].assignments.user.group: line 13: did you mean user.groups?`,
		`dynamics[1].assignments.user.groups: line 14: group 1 needs a value`,
		`dynamics[1].assignments.user.roles: line 15: role 1 needs a type`,
		`dynamics[1].assignments.user.dynamicIds: line 16: user.dynamicIds cannot be assigned`,
		`dynamics[1].assignments.title: line 17: assignment keys are user attributes`,
		`dynamics[1].assignments.user.title: line 18: no value`,
		`dynamics[1].assignments.user.x$y: line 19: "x$y" is not a SCIM attribute name`,
		`dynamics[2]: line 20: dynamic_id "ok" is used twice`,
		`dynamics[2].assignments: line 20: nothing to assign`,
	}
	if len(list) != len(want) {
		t.Fatalf("errors:\n%v", err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, list[i].Error(), w)
		}
	}
}

// TestExtensionAttribute: a dynamic sets an enterprise extension attribute and restores it on revocation.
func TestExtensionAttribute(t *testing.T) {
	s, err := Compile([]config.Dynamic{{DynamicID: "d", Rules: []config.Filter{{Filter: `(user.title -match "X")`}},
		Assignments: []config.Assignment{{Path: "user.urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department", Value: "Dyn"}}}})
	if err != nil {
		t.Fatal(err)
	}
	src := user(t, `{"title":"X","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Src","employeeNumber":"1"}}`)
	u, a := s.Apply(src, Applied{})
	if got := js(t, u); got != `{"dynamicIds":["d"],"title":"X","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Dyn","employeeNumber":"1"}}` {
		t.Errorf("applied = %s", got)
	}
	if got := Revert(u, a); js(t, got) != js(t, src) {
		t.Errorf("reverted = %s", js(t, got))
	}
}
