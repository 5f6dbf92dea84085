package rules

import (
	"encoding/json"
	"testing"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

const app1ID = "a12f063b-1c8b-40e0-9988-01b46f478349"

// docsRouter compiles the documentation's five-channel Entra example from testdata.
func docsRouter(t testing.TB) *Router {
	t.Helper()
	c, err := config.Check("../testdata/config/entra-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compile(c.Entra["mycompany"].Streams)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Channels(); len(got) != 5 || got[0] != "APP1" || got[4] != "APP5" {
		t.Fatalf("channels = %v", got)
	}
	return r
}

func byChannel(ds []Delivery) map[string]Delivery {
	m := map[string]Delivery{}
	for _, d := range ds {
		m[d.Channel] = d
	}
	return m
}

func js(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const docsUser = `{
	"userName": "john.smith@mycompany.com", "title": "Engineer", "active": true,
	"emails": [{"type": "work", "value": "john.smith@contoso.com"}],
	"groups": [{"display": "Admins", "value": "Admins"}, {"display": "App3_x", "value": "App3_x"}, {"display": "App4_y", "value": "App4_y"}],
	"roles": [{"type": "Application 1", "display": "Employees access", "value": "Employees"},
	          {"type": "Application 1", "display": "Admins access", "value": "Admins"},
	          {"type": "App1", "appId": "` + app1ID + `", "display": "User", "value": "User"}]
}`

// TestDocsExampleRouting: a user in App3_x with role Application 1/Employees reaches APP3 with just that group and
// that role; APP5 gets everything; APP1 gets only the App1 role; APP2 and APP4 get nothing.
func TestDocsExampleRouting(t *testing.T) {
	r := docsRouter(t)
	u := user(t, docsUser)
	before := js(t, u)
	ds := byChannel(r.Route(nil, u, Fields{"initiatedByUpn": "admin@mycompany.com"}))
	if js(t, u) != before {
		t.Fatal("Route modified the user")
	}
	app3 := ds["APP3"]
	if !app3.Matched || app3.PreviouslyMatched || app3.Previous != nil {
		t.Fatalf("APP3 = %+v", app3)
	}
	if got := js(t, app3.Current["groups"]); got != `[{"display":"App3_x","value":"App3_x"}]` {
		t.Errorf("APP3 groups = %s", got)
	}
	if got := js(t, app3.Current["roles"]); got != `[{"display":"Employees access","type":"Application 1","value":"Employees"}]` {
		t.Errorf("APP3 roles = %s", got)
	}
	if app3.Current["title"] != "Engineer" || app3.Current["userName"] != "john.smith@mycompany.com" {
		t.Errorf("APP3 lost user attributes: %v", app3.Current)
	}
	if app5 := ds["APP5"]; !app5.Matched || js(t, app5.Current) != before {
		t.Errorf("APP5 = %s, want the whole user", js(t, app5.Current))
	}
	app1 := ds["APP1"]
	if !app1.Matched || js(t, app1.Current["groups"]) != `[]` || len(app1.Current["roles"].([]any)) != 1 {
		t.Errorf("APP1 = %s", js(t, app1.Current))
	}
	for _, ch := range []string{"APP2", "APP4"} {
		if d := ds[ch]; d.Matched || d.PreviouslyMatched || d.Current != nil || d.Previous != nil {
			t.Errorf("%s = %+v, want nothing", ch, d)
		}
	}
}

// TestScopeExit: a user losing their last App1 role gets one APP1 message with the remove operation, then none.
func TestScopeExit(t *testing.T) {
	r := docsRouter(t)
	v1 := user(t, docsUser)
	v2 := v1.Clone()
	v2["roles"] = v2["roles"].([]any)[:2] // the App1 role is gone
	v3 := v2.Clone()
	v3["title"] = "Senior Engineer"

	d := byChannel(r.Route(v1, v2, nil))["APP1"]
	if d.Matched || !d.PreviouslyMatched {
		t.Fatalf("APP1 after losing the role = %+v", d)
	}
	ops := scim.Diff(d.Previous, d.Current)
	want := `[{"op":"remove","value":[{"appId":"` + app1ID + `","display":"User","type":"App1","value":"User"}],"path":"roles"}]`
	if got := js(t, ops); got != want {
		t.Errorf("operations = %s\nwant %s", got, want)
	}
	if d := byChannel(r.Route(v2, v3, nil))["APP1"]; d.Matched || d.PreviouslyMatched {
		t.Errorf("APP1 after the user left = %+v, want nothing", d)
	}
	// A deleted user reaches the channels it was in, with its pruned view.
	del := byChannel(r.Route(v1, nil, Fields{"activityOperation": wire.DeleteUser}))
	if d := del["APP1"]; !d.PreviouslyMatched || d.Matched || d.Current != nil || len(d.Previous["roles"].([]any)) != 1 {
		t.Errorf("APP1 on delete = %+v", d)
	}
	if d := del["APP2"]; d.PreviouslyMatched {
		t.Errorf("APP2 on delete = %+v", d)
	}
}

// TestOrAndAcrossFilters (APP4): the e-mail filter selects the user without groups; the AND filter keeps App4
// groups only while the title also matches, and a title change out of it removes the group from the message.
func TestOrAndAcrossFilters(t *testing.T) {
	r := docsRouter(t)
	u := user(t, docsUser)
	u["title"] = "Dog Trainer"
	d := byChannel(r.Route(nil, u, nil))["APP4"]
	if !d.Matched || js(t, d.Current["groups"]) != `[{"display":"App4_y","value":"App4_y"}]` || js(t, d.Current["roles"]) != `[]` {
		t.Fatalf("APP4 = %s", js(t, d.Current))
	}
	u2 := u.Clone()
	u2["emails"] = []any{map[string]any{"type": "work", "value": "john.smith@mycompany.com"}}
	u2["title"] = "Engineer"
	d = byChannel(r.Route(u, u2, nil))["APP4"]
	if !d.Matched || !d.PreviouslyMatched {
		t.Fatalf("APP4 = %+v", d)
	}
	want := `[{"op":"replace","value":"john.smith@mycompany.com","path":"emails[type eq \"work\"].value"},` +
		`{"op":"remove","value":[{"display":"App4_y","value":"App4_y"}],"path":"groups"},` +
		`{"op":"replace","value":"Engineer","path":"title"}]`
	if got := js(t, scim.Diff(d.Previous, d.Current)); got != want {
		t.Errorf("operations = %s\nwant %s", got, want)
	}
}

// TestExclude: -exclude selects the user but keeps the matched groups out, even when another filter (here (.*))
// includes them; other filters keep their groups.
func TestExclude(t *testing.T) {
	const gid = "dc474382-b3b6-4d7b-a6da-e9721c4ba150"
	r, err := Compile([]config.Stream{
		{Channel: "ONLY", Rules: []config.Filter{{Filter: `(user.groups.value -match "` + gid + `" -exclude)`}}},
		{Channel: "MIX", Rules: []config.Filter{
			{Filter: `(user.groups.value -match "` + gid + `" -exclude)`},
			{Filter: `(.*)`},
		}},
		{Channel: "SAME", Rules: []config.Filter{ // the same term included here: term sharing keeps flags apart
			{Filter: `(user.groups.value -match "` + gid + `")`},
		}},
		{Channel: "ROLES", Rules: []config.Filter{
			{Filter: `(user.roles.App1.value -match ".*") and (user.roles.App1.value -match "Admin" -exclude)`},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := user(t, `{"userName":"a","groups":[{"display":"G","value":"`+gid+`"},{"display":"H","value":"H"}],
		"roles":[{"type":"App1","value":"Admin"},{"type":"App1","value":"User"},{"type":"App2","value":"User"}]}`)
	ds := byChannel(r.Route(nil, u, nil))
	if d := ds["ONLY"]; !d.Matched || js(t, d.Current["groups"]) != `[]` || js(t, d.Current["roles"]) != `[]` {
		t.Errorf("ONLY = %s", js(t, d.Current))
	}
	if d := ds["MIX"]; !d.Matched || js(t, d.Current["groups"]) != `[{"display":"H","value":"H"}]` || len(d.Current["roles"].([]any)) != 3 {
		t.Errorf("MIX = %s", js(t, d.Current))
	}
	if d := ds["SAME"]; !d.Matched || js(t, d.Current["groups"]) != `[{"display":"G","value":"`+gid+`"}]` {
		t.Errorf("SAME = %s", js(t, d.Current))
	}
	if d := ds["ROLES"]; !d.Matched || js(t, d.Current["roles"]) != `[{"type":"App1","value":"User"}]` {
		t.Errorf("ROLES = %s", js(t, d.Current))
	}
	// Without the group the user leaves ONLY: the scope exit carries no group (it never had one there).
	u2 := u.Clone()
	u2["groups"] = u2["groups"].([]any)[1:]
	if d := byChannel(r.Route(u, u2, nil))["ONLY"]; d.Matched || !d.PreviouslyMatched || len(scim.Diff(d.Previous, d.Current)) != 0 {
		t.Errorf("ONLY exit = %+v ops %v", d, scim.Diff(d.Previous, d.Current))
	}
}

// TestSyncLoopback: the documentation's AD rule keeps changes made by the Entra Connect Sync account away from
// AD, whatever the previous state, while changes by anyone else (and changes without an initiator) go through.
func TestSyncLoopback(t *testing.T) {
	r, err := Compile([]config.Stream{{Channel: "AD", Rules: []config.Filter{
		{Filter: `(user.roles.` + app1ID + `.value -match ".*") and (initiatedByUpn -match "(?!Sync_.*)")`},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	with := user(t, docsUser)
	without := with.Clone()
	without["roles"] = with["roles"].([]any)[:2]
	sync := Fields{"initiatedByUpn": "Sync_ADCONNECT01_3c2a@mycompany.onmicrosoft.com"}
	admin := Fields{"initiatedByUpn": "admin@mycompany.com"}
	for _, c := range []struct {
		name            string
		prev, cur       scim.User
		fields          Fields
		matched, before bool
	}{
		{"sync adds", nil, with, sync, false, false},
		{"sync modifies", with, with, sync, false, false},
		{"sync removes the role", with, without, sync, false, false},
		{"admin adds", without, with, admin, true, false},
		{"admin removes the role", with, without, admin, false, true},
		{"no initiator", nil, with, nil, true, false},
	} {
		d := r.Route(c.prev, c.cur, c.fields)[0]
		if d.Matched != c.matched || d.PreviouslyMatched != c.before {
			t.Errorf("%s: matched %v previously %v, want %v %v", c.name, d.Matched, d.PreviouslyMatched, c.matched, c.before)
		}
	}
}

// TestRouteKeepsAbsentAttributes: a user without groups/roles gets none invented, and attribute names are found
// case-insensitively as SCIM wants.
func TestRouteKeepsAbsentAttributes(t *testing.T) {
	r, err := Compile([]config.Stream{{Channel: "C", Rules: []config.Filter{{Filter: `(user.title -match "T")`}, {Filter: `(user.Groups.display -match "G")`}}}})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Route(nil, user(t, `{"Title":"T"}`), nil)[0]
	if !d.Matched || js(t, d.Current) != `{"Title":"T"}` {
		t.Errorf("C = %s", js(t, d.Current))
	}
	d = r.Route(nil, user(t, `{"Groups":[{"display":"G"},{"display":"X"}]}`), nil)[0]
	if !d.Matched || js(t, d.Current) != `{"Groups":[{"display":"G"}]}` {
		t.Errorf("C = %s", js(t, d.Current))
	}
}

// TestRouteConcurrently: one Router serves every goroutine of a collection (run with -race).
func TestRouteConcurrently(t *testing.T) {
	r := docsRouter(t)
	u := user(t, docsUser)
	want := js(t, r.Route(nil, u, nil))
	done := make(chan string)
	for range 8 {
		go func() {
			var got []byte
			for range 50 {
				got, _ = json.Marshal(r.Route(nil, u, nil))
			}
			done <- string(got)
		}()
	}
	for range 8 {
		if got := <-done; got != want {
			t.Errorf("concurrent Route = %s, want %s", got, want)
		}
	}
}

// TestDynamicIDsSelectButStayOut: rules select on user.dynamicIds, messages never carry it.
func TestDynamicIDsSelectButStayOut(t *testing.T) {
	r, err := Compile([]config.Stream{
		{Channel: "DYN", Rules: []config.Filter{{Filter: `(user.dynamicIds -match "dynamic-1")`}}},
		{Channel: "ALL", Rules: []config.Filter{{Filter: `(.*)`}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := user(t, `{"userName":"a","dynamicIds":["dynamic-1"]}`)
	for _, d := range r.Route(nil, u, nil) {
		if !d.Matched || js(t, d.Current) != `{"userName":"a"}` {
			t.Errorf("%s: matched %v, view %s", d.Channel, d.Matched, js(t, d.Current))
		}
	}
	if _, ok := u["dynamicIds"]; !ok {
		t.Error("Route removed dynamicIds from the caller's user")
	}
}
