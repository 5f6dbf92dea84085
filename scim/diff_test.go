package scim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func opsJSON(t testing.TB, ops []Operation) string {
	t.Helper()
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDiffDocsMessageShapes(t *testing.T) {
	old := jsonUser(t, `{"userName": "john.smith@mycompany.com",
		"groups": [{"display": "Admins", "value": "Admins"}],
		"roles": [{"type": "Application1", "display": "Admins access", "value": "Admins"}]}`)
	// The documentation's examples: group "Employees" added; app role "Employees" added while "Admins" stays.
	new := jsonUser(t, `{"userName": "john.smith@mycompany.com",
		"groups": [{"display": "Employees", "value": "Employees"}, {"display": "Admins", "value": "Admins"}],
		"roles": [{"type": "Application1", "display": "Employee access", "value": "Employees"},
		          {"type": "Application1", "display": "Admins access", "value": "Admins"}]}`)
	got := opsJSON(t, Diff(old, new))
	want := `[{"op":"add","value":[{"display":"Employees","value":"Employees"}],"path":"groups"},` +
		`{"op":"add","value":[{"display":"Employee access","type":"Application1","value":"Employees"}],"path":"roles"}]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got = opsJSON(t, Diff(new, old))
	want = `[{"op":"remove","value":[{"display":"Employees","value":"Employees"}],"path":"groups"},` +
		`{"op":"remove","value":[{"display":"Employee access","type":"Application1","value":"Employees"}],"path":"roles"}]`
	if got != want {
		t.Fatalf("reverse: got  %s\nwant %s", got, want)
	}
	// Down to no groups (the attribute gone, or [] as a channel's view states it) and up from none: still value
	// arrays, so a subscriber removes exactly the memberships the user lost.
	for _, none := range []string{`{"userName":"j"}`, `{"userName":"j","groups":[],"Roles":null}`} {
		got = opsJSON(t, Diff(jsonUser(t, `{"userName":"j","groups":[{"display":"A","value":"A"}],"Roles":[{"type":"T","value":"R"}]}`), jsonUser(t, none)))
		want = `[{"op":"remove","value":[{"type":"T","value":"R"}],"path":"Roles"},{"op":"remove","value":[{"display":"A","value":"A"}],"path":"groups"}]`
		if got != want {
			t.Errorf("to %s: got  %s\nwant %s", none, got, want)
		}
		got = opsJSON(t, Diff(jsonUser(t, none), jsonUser(t, `{"userName":"j","groups":[{"display":"A","value":"A"}]}`)))
		want = `[{"op":"add","value":[{"display":"A","value":"A"}],"path":"groups"}]`
		if got != want {
			t.Errorf("from %s: got  %s\nwant %s", none, got, want)
		}
	}
	// A reordering is not a change.
	re := new.Clone()
	g := re["groups"].([]any)
	g[0], g[1] = g[1], g[0]
	if ops := Diff(new, re); len(ops) != 0 {
		t.Fatalf("reordered groups gave %s", opsJSON(t, ops))
	}
}

func TestDiffAttributes(t *testing.T) {
	old := jsonUser(t, `{
		"userName": "a@x", "title": "Consultant", "displayName": "John Smith", "active": true,
		"name": {"givenName": "John", "familyName": "Smith"},
		"emails": [{"type": "work", "value": "a@x"}, {"type": "other", "value": "o@y"}],
		"phoneNumbers": [{"type": "work", "value": "1"}],
		"nicknames": ["j"],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "manager": {"value": "m1", "displayName": "M One"}},
		"onCreate": {"userPrincipalName": "a@x"}}`)
	new := jsonUser(t, `{
		"userName": "a@x", "title": "Manager", "active": false,
		"name": {"givenName": "John", "familyName": "Smith-Jones", "formatted": "John Smith-Jones"},
		"emails": [{"type": "work", "value": "b@x"}, {"type": "home", "value": "h@z", "primary": true}],
		"phoneNumbers": [{"type": "work", "value": "1"}, {"type": "work", "value": "2"}],
		"nicknames": ["jj"],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"division": "North", "manager": {"value": "m2", "displayName": "M One"}}}`)
	want := []Operation{
		{Op: "replace", Path: "active", Value: false},
		{Op: "remove", Path: "displayName"},
		{Op: "remove", Path: `emails[type eq "other"]`},
		{Op: "replace", Path: `emails[type eq "work"].value`, Value: "b@x"},
		{Op: "add", Path: `emails[type eq "home"].primary`, Value: true},
		{Op: "add", Path: `emails[type eq "home"].value`, Value: "h@z"},
		{Op: "replace", Path: "name.familyName", Value: "Smith-Jones"},
		{Op: "add", Path: "name.formatted", Value: "John Smith-Jones"},
		{Op: "replace", Path: "nicknames", Value: []any{"jj"}},
		// Two work numbers: no distinct types, so the attribute is replaced whole.
		{Op: "replace", Path: "phoneNumbers", Value: []any{map[string]any{"type": "work", "value": "1"}, map[string]any{"type": "work", "value": "2"}}},
		{Op: "replace", Path: "title", Value: "Manager"},
		{Op: "remove", Path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
		{Op: "add", Path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division", Value: "North"},
		{Op: "replace", Path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", Value: "m2"},
	}
	got := Diff(old, new)
	if opsJSON(t, got) != opsJSON(t, want) {
		t.Fatalf("got  %s\nwant %s", opsJSON(t, got), opsJSON(t, want))
	}
	// Deterministic: the same inputs give the same operations every time (maps iterate randomly).
	for range 20 {
		if !reflect.DeepEqual(Diff(old.Clone(), new.Clone()), got) {
			t.Fatal("Diff is not deterministic")
		}
	}
	if ops := Diff(old, old.Clone()); len(ops) != 0 {
		t.Fatalf("no change gave %s", opsJSON(t, ops))
	}
	// Every operation has a path (the Node gateway drops one without).
	for _, op := range Diff(User{}, new) {
		if op.Path == "" {
			t.Fatalf("operation without path: %+v", op)
		}
	}
}

// checkRoundTrip applies Diff(a, b) to a with the package's PATCH implementation and expects b (onCreate is
// not diffed, so it is left out of the comparison).
func checkRoundTrip(t *testing.T, a, b User) {
	t.Helper()
	ops := Diff(a, b)
	got, err := ApplyPatch(a, ops)
	if err != nil {
		t.Fatalf("apply %s: %v\na=%v\nb=%v", opsJSON(t, ops), err, a, b)
	}
	want := b.Clone()
	delete(want, CreateOnly)
	delete(got, CreateOnly)
	// null, [] and {} count as absent: an attribute set to null, an empty multi-valued attribute (RFC 7643 §2.5)
	// and a complex attribute without sub-attributes (such as an extension whose last attribute was removed) are
	// unassigned in SCIM terms.
	dropNulls(want)
	dropNulls(got)
	if !sameSCIM(got, map[string]any(want)) {
		ga, _ := json.Marshal(a)
		gb, _ := json.Marshal(b)
		gg, _ := json.Marshal(got)
		t.Fatalf("round trip failed\na   = %s\nb   = %s\nops = %s\ngot = %s", ga, gb, opsJSON(t, ops), gg)
	}
}

// sameSCIM is Equal with attribute names compared case-insensitively, as SCIM names are (RFC 7643 §2.1): a
// stored "Title" patched with a "title" change keeps its spelling.
func sameSCIM(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		if len(am) != len(bm) {
			return false
		}
		for k, va := range am {
			kb, ok := lookupKey(bm, k)
			if !ok || !sameSCIM(va, bm[kb]) {
				return false
			}
		}
		return true
	}
	aa, aok := a.([]any)
	ba, bok := b.([]any)
	if aok && bok {
		if len(aa) != len(ba) {
			return false
		}
		used := make([]bool, len(ba))
	next:
		for _, ea := range aa {
			for j, eb := range ba {
				if !used[j] && sameSCIM(ea, eb) {
					used[j] = true
					continue next
				}
			}
			return false
		}
		return true
	}
	return Equal(a, b)
}

// dropNulls deletes the null, empty-array and empty-object attributes and sub-attributes of an object.
func dropNulls(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case []any:
			if len(x) == 0 {
				delete(m, k)
			}
		case map[string]any:
			dropNulls(x)
			if len(x) == 0 {
				delete(m, k)
			}
		}
	}
}

// randomUser builds a user from a small vocabulary so that two random users share attributes, elements and
// values often enough to exercise add, remove and replace at every level.
func randomUser(r *rand.Rand) User {
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	u := User{}
	if r.IntN(4) > 0 {
		u["userName"] = pick("a@x", "b@x", "c@x")
	}
	if r.IntN(2) == 0 {
		u["title"] = pick("Consultant", "Manager")
	}
	if r.IntN(2) == 0 {
		u["active"] = r.IntN(2) == 0
	}
	if r.IntN(2) == 0 {
		name := map[string]any{}
		for _, k := range []string{"givenName", "familyName", "formatted"} {
			if r.IntN(2) == 0 {
				name[k] = pick("A", "B", "C")
			}
		}
		if len(name) > 0 {
			u["name"] = name
		}
	}
	typed := func(attr string, types ...string) {
		var arr []any
		for _, ty := range types {
			if r.IntN(2) == 0 {
				el := map[string]any{"type": ty, "value": pick("1", "2", "3")}
				if r.IntN(3) == 0 {
					el["primary"] = true
				}
				arr = append(arr, el)
			}
		}
		if r.IntN(8) == 0 && len(arr) > 0 { // duplicate type: no per-type diff possible
			arr = append(arr, map[string]any{"type": types[0], "value": "dup"})
		}
		if len(arr) > 0 {
			u[attr] = arr
		}
	}
	typed("emails", "work", "other", "home")
	typed("phoneNumbers", "work", "mobile")
	values := func(attr string, mk func(string) map[string]any, vals ...string) {
		var arr []any
		for _, v := range vals {
			if r.IntN(2) == 0 {
				arr = append(arr, mk(v))
			}
		}
		if len(arr) > 0 {
			u[attr] = arr
		}
	}
	values("groups", func(v string) map[string]any { return map[string]any{"display": v, "value": v} }, "G1", "G2", "G3", "G4")
	values("roles", func(v string) map[string]any {
		return map[string]any{"type": "App1", "display": v + " access", "value": v}
	}, "Admins", "Employees", "Users")
	if r.IntN(2) == 0 {
		ext := map[string]any{}
		if r.IntN(2) == 0 {
			ext["department"] = pick("Sales", "Tour Operations")
		}
		if r.IntN(2) == 0 {
			m := map[string]any{"value": pick("m1", "m2")}
			if r.IntN(2) == 0 {
				m["displayName"] = pick("M One", "M Two")
			}
			ext["manager"] = m
		}
		if len(ext) > 0 {
			u[EnterpriseUserSchema] = ext
			u["schemas"] = []any{CoreUserSchema, EnterpriseUserSchema}
		}
	}
	if _, ok := u["schemas"]; !ok && r.IntN(2) == 0 {
		u["schemas"] = []any{CoreUserSchema}
	}
	if r.IntN(3) == 0 {
		u[CreateOnly] = map[string]any{"userPrincipalName": pick("x@y", "z@y")}
	}
	return u
}

// TestDiffSpelling: attribute names are case-insensitive, so a spelling changed by a configuration edit is not a
// change, and a changed value is one operation under the new spelling (not an add and a remove that would cancel
// out at a case-insensitive subscriber).
func TestDiffSpelling(t *testing.T) {
	old := jsonUser(t, `{"Title":"Consultant","Name":{"GivenName":"J"},"emails":[{"type":"work","Value":"a@x"}]}`)
	if ops := Diff(old, jsonUser(t, `{"title":"Consultant","name":{"givenName":"J"},"emails":[{"type":"work","value":"a@x"}]}`)); len(ops) != 0 {
		t.Errorf("spelling only: %s", opsJSON(t, ops))
	}
	got := opsJSON(t, Diff(old, jsonUser(t, `{"title":"Manager","name":{"givenName":"K"},"emails":[{"type":"work","value":"b@x"}]}`)))
	want := `[{"op":"replace","value":"b@x","path":"emails[type eq \"work\"].value"},` +
		`{"op":"replace","value":"K","path":"name.givenName"},{"op":"replace","value":"Manager","path":"title"}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestDiffUnaddressable: a complex value whose keys cannot be paths (a source object copied whole) is removed and
// added again, since a replace would merge into it; an empty list is no list.
func TestDiffUnaddressable(t *testing.T) {
	old := jsonUser(t, `{"manager":{"@odata.type":"#microsoft.graph.user","id":"1"},"groups":[]}`)
	new := jsonUser(t, `{"manager":{"@odata.type":"#microsoft.graph.user","id":"2"}}`)
	got := opsJSON(t, Diff(old, new))
	want := `[{"op":"remove","path":"manager"},{"op":"add","value":{"@odata.type":"#microsoft.graph.user","id":"2"},"path":"manager"}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	checkRoundTrip(t, old, new)
}

func TestDiffRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		a, b := randomUser(r), randomUser(r)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkRoundTrip(t, a, b) })
		if t.Failed() {
			return
		}
	}
}

// FuzzDiffRoundTrip drives the random user generator with fuzzed seeds: go test -fuzz FuzzDiffRoundTrip ./scim
func FuzzDiffRoundTrip(f *testing.F) {
	for _, s := range [][2]uint64{{0, 0}, {1, 2}, {42, 7}, {1 << 40, 3}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		r := rand.New(rand.NewPCG(s1, s2))
		checkRoundTrip(t, randomUser(r), randomUser(r))
	})
}

// FuzzDiffJSON: the round trip on users of any shape, as decoded from JSON. Subscribers receive whatever the
// mapper produced, so Diff must give operations that rebuild the new user also for attributes no SCIM schema
// describes. go test -fuzz FuzzDiffJSON ./scim
func FuzzDiffJSON(f *testing.F) {
	for _, s := range [][2]string{
		{`{"userName":"a","groups":[{"display":"A","value":"A"}]}`, `{"userName":"a","groups":[{"display":"B","value":"B"}],"title":"x"}`},
		{`{"emails":[{"type":"work","value":"a"},{"type":"other","value":"b"}]}`, `{"emails":[{"type":"WORK","value":"c"},{"type":"home","value":"h","primary":true}]}`},
		{`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m"}}}`, `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"d"}}`},
		{`{"manager":{"@odata.type":"#microsoft.graph.user","id":"1"}}`, `{"manager":{"@odata.type":"#microsoft.graph.user","id":"2"}}`},
		{`{"x":[1,2,2]}`, `{"x":[2,1]}`},
		{`{"name":{"givenName":"J"},"onCreate":{"userPrincipalName":"a"}}`, `{"name":null,"active":false}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var ua, ub User
		if json.Unmarshal([]byte(a), &ua) != nil || json.Unmarshal([]byte(b), &ub) != nil {
			return
		}
		// Top-level names come from map_to targets, which the mapper parses: attribute names in one spelling,
		// and extensions whose attributes are names too. Below them, values are anything a source sends.
		for _, u := range []User{ua, ub} {
			names := map[string]any{}
			for k, v := range u {
				if k == EnterpriseUserSchema {
					if ext, ok := v.(map[string]any); ok && !addressable(ext) {
						return
					}
					continue
				}
				names[k] = v
			}
			if !addressable(names) {
				return
			}
		}
		checkRoundTrip(t, ua, ub)
	})
}
