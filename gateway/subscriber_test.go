package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// entraGateway starts a gateway "gw" with one entity "app1" on ENTRA.APP1 and the given options.
func entraGateway(t *testing.T, w *world, softSync bool, opts func(*gateway.Entity)) *running {
	e := w.entity("gw", "app1", "ENTRA.APP1")
	if opts != nil {
		opts(&e)
	}
	return w.start(w.config("gw", softSync, map[string]gateway.Entity{"app1": e}))
}

func TestCreateReplaceDeleteInOrder(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, false, nil)
	u := person("john@acme.com", "groups", []any{group("Employees")}, "nickName", "Johnny")
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, u))
	next := person("john@acme.com", "groups", []any{group("Employees"), group("Admins")})
	delete(next, "title")
	w.publish("ENTRA.APP1", nextID(), msg(wire.ModifyUser, next))
	evs := r.waitEvents(t, 2)
	if evs[0].Action != gateway.ActionCreated || evs[1].Action != gateway.ActionReplaced {
		t.Fatalf("actions %s, %s; want created, replaced", evs[0].Action, evs[1].Action)
	}
	got := r.user(t, "john@acme.com")
	if got["title"] != nil || got["nickName"] != nil {
		t.Errorf("replace kept attributes the message no longer has: title=%v nickName=%v", got["title"], got["nickName"])
	}
	if g := groupNames(got); !slices.Equal(g, []string{"Admins", "Employees"}) {
		t.Errorf("groups = %v", g)
	}
	w.publish("ENTRA.APP1", nextID(), msg(wire.DeleteUser, next))
	if evs := r.waitEvents(t, 3); evs[2].Action != gateway.ActionDeleted {
		t.Fatalf("action %s, want deleted", evs[2].Action)
	}
	r.absent(t, "john@acme.com")
	// A delete of an absent user is done already.
	w.publish("ENTRA.APP1", nextID(), msg(wire.DeleteUser, next))
	if evs := r.waitEvents(t, 4); evs[3].Action != gateway.ActionSkipped {
		t.Fatalf("second delete: %s, want skipped", evs[3].Action)
	}
}

func TestSameMessageTwiceIsIdempotent(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, false, func(e *gateway.Entity) { e.GenerateUserPassword = true })
	m := msg(wire.CreateUser, person("ann@acme.com", "roles", []any{role("App1", "Admin access", "Admins")}))
	w.publish("ENTRA.APP1", nextID(), m)
	r.waitEvents(t, 1)
	first := r.user(t, "ann@acme.com")
	// Different Msg-Ids: the broker does not de-duplicate; the gateway must be idempotent itself.
	w.publish("ENTRA.APP1", nextID(), m)
	r.waitEvents(t, 2)
	second := r.user(t, "ann@acme.com")
	delete(first, "meta")
	delete(second, "meta")
	if !scim.Equal(first, second) {
		t.Fatalf("state changed on re-apply:\n%v\n%v", first, second)
	}
	gs, _ := r.st.ListGroups(context.Background(), "")
	if len(gs) != 1 {
		t.Fatalf("%d groups after re-apply, want 1", len(gs))
	}
}

func TestSoftSyncIsForcedForHR(t *testing.T) {
	w := newWorld(t)
	e := w.entity("gw", "hr", "HR.SF")
	r := w.start(w.config("gw", false, map[string]gateway.Entity{"hr": e}))
	ctx := context.Background()
	// The user exists with attributes HR does not own (e.g. provisioned from Entra).
	if _, err := r.st.CreateUser(ctx, scim.User(person("kim@acme.com", "nickName", "Kimmy",
		"name", map[string]any{"givenName": "Kim", "familyName": "Lee", "middleName": "J"}))); err != nil {
		t.Fatal(err)
	}
	hr := person("kim@acme.com", "title", "Manager", "groups", []any{group("Staff")},
		"name", map[string]any{"givenName": "Kim", "familyName": "Lee"})
	delete(hr, "displayName")
	w.publish("HR.SF", nextID(), msg(wire.ModifyUser, hr,
		scim.Operation{Op: "replace", Path: "title", Value: "Manager"},
		scim.Operation{Op: "remove", Path: "name.middleName"}))
	if evs := r.waitEvents(t, 1); evs[0].Action != gateway.ActionModified {
		t.Fatalf("action %s (%v), want modified", evs[0].Action, evs[0].Err)
	}
	got := r.user(t, "kim@acme.com")
	if got["title"] != "Manager" || got["nickName"] != "Kimmy" || got["displayName"] != "John Smith" {
		t.Errorf("soft sync: title=%v nickName=%v displayName=%v; want Manager, Kimmy kept, displayName kept", got["title"], got["nickName"], got["displayName"])
	}
	if mn := got["name"].(map[string]any)["middleName"]; mn != nil {
		t.Errorf("remove Operation on name.middleName not applied: %v", mn)
	}
	if g := groupNames(got); !slices.Equal(g, []string{"Staff"}) {
		t.Errorf("groups = %v", g)
	}
	// Soft sync adds groups and removes only those an Operation removes.
	hr2 := person("kim@acme.com", "title", "Manager", "groups", []any{group("Managers")})
	w.publish("HR.SF", nextID(), msg(wire.ModifyUser, hr2,
		scim.Operation{Op: "add", Path: "groups", Value: []any{group("Managers")}},
		scim.Operation{Op: "remove", Path: "groups", Value: []any{group("Staff")}}))
	r.waitEvents(t, 2)
	if g := groupNames(r.user(t, "kim@acme.com")); !slices.Equal(g, []string{"Managers"}) {
		t.Errorf("groups after remove Operation = %v, want [Managers]", g)
	}
}

func TestModifyOnly(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, func(e *gateway.Entity) { e.ModifyOnly = true })
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("new@acme.com")))
	if evs := r.waitEvents(t, 1); evs[0].Action != gateway.ActionSkipped {
		t.Fatalf("create with modifyOnly: %s", evs[0].Action)
	}
	r.absent(t, "new@acme.com")
	if _, err := r.st.CreateUser(context.Background(), scim.User(person("old@acme.com"))); err != nil {
		t.Fatal(err)
	}
	w.publish("ENTRA.APP1", nextID(), msg(wire.ModifyUser, person("old@acme.com", "title", "Boss")))
	w.publish("ENTRA.APP1", nextID(), msg(wire.DeleteUser, person("old@acme.com")))
	evs := r.waitEvents(t, 3)
	if evs[1].Action != gateway.ActionModified || evs[2].Action != gateway.ActionSkipped {
		t.Fatalf("actions %s, %s; want modified, skipped", evs[1].Action, evs[2].Action)
	}
	if got := r.user(t, "old@acme.com"); got["title"] != "Boss" {
		t.Errorf("title = %v", got["title"])
	}
}

func TestInactiveUserIsNotCreatedButExistingOneIsDeactivated(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, nil)
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("gone@acme.com", "active", false)))
	if evs := r.waitEvents(t, 1); evs[0].Action != gateway.ActionSkipped {
		t.Fatalf("inactive create: %s", evs[0].Action)
	}
	r.absent(t, "gone@acme.com")
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("leaver@acme.com")))
	w.publish("ENTRA.APP1", nextID(), msg(wire.ModifyUser, person("leaver@acme.com", "active", "False")))
	r.waitEvents(t, 3)
	if got := r.user(t, "leaver@acme.com"); got["active"] != false {
		t.Fatalf("leaver active = %#v, want false", got["active"])
	}
}

func TestRolesBecomeGroups(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, nil)
	u := person("rita@acme.com", "roles", []any{role("App1", "Admin access", "Admins"), role("App1", "User access", "Users")})
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, u))
	evs := r.waitEvents(t, 1)
	if !slices.Equal(evs[0].GroupsAdded, []string{"App1 - Admin access", "App1 - User access"}) {
		t.Errorf("groups added %v", evs[0].GroupsAdded)
	}
	got := r.user(t, "rita@acme.com")
	if got["roles"] != nil {
		t.Errorf("roles kept on the user although converted: %v", got["roles"])
	}
	if g := groupNames(got); !slices.Equal(g, []string{"Admins", "Users"}) {
		t.Fatalf("groups = %v, want [Admins Users] (role values)", g)
	}
	u2 := person("rita@acme.com", "roles", []any{role("App1", "User access", "Users")})
	w.publish("ENTRA.APP1", nextID(), msg(wire.ModifyUser, u2,
		scim.Operation{Op: "remove", Path: "roles", Value: []any{role("App1", "Admin access", "Admins")}}))
	r.waitEvents(t, 2)
	if g := groupNames(r.user(t, "rita@acme.com")); !slices.Equal(g, []string{"Users"}) {
		t.Fatalf("groups after role removal = %v, want [Users]", g)
	}
}

func TestSkipConvertRolesToGroupsKeepsRoles(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, func(e *gateway.Entity) { e.SkipConvertRolesToGroups = true })
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("sam@acme.com", "roles", []any{role("App1", "Admin access", "Admins")})))
	r.waitEvents(t, 1)
	got := r.user(t, "sam@acme.com")
	roles, _ := got["roles"].([]any)
	if len(roles) != 1 || roles[0].(map[string]any)["value"] != "Admins" || got["groups"] != nil {
		t.Fatalf("roles=%v groups=%v; want the role kept and no groups", got["roles"], got["groups"])
	}
}

func TestDeleteUserOnLastGroupRoleRemoval(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[on], func(t *testing.T) {
			w := newWorld(t)
			r := entraGateway(t, w, true, func(e *gateway.Entity) { e.DeleteUserOnLastGroupRoleRemoval = on })
			w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("lou@acme.com", "roles", []any{role("App1", "User access", "Users")})))
			w.publish("ENTRA.APP1", nextID(), msg(wire.ModifyUser, person("lou@acme.com"),
				scim.Operation{Op: "remove", Path: "roles", Value: []any{role("App1", "User access", "Users")}}))
			evs := r.waitEvents(t, 2)
			if on {
				if evs[1].Action != gateway.ActionDeleted {
					t.Fatalf("action %s, want deleted", evs[1].Action)
				}
				r.absent(t, "lou@acme.com")
				return
			}
			if evs[1].Action != gateway.ActionModified {
				t.Fatalf("action %s, want modified", evs[1].Action)
			}
			if g := groupNames(r.user(t, "lou@acme.com")); len(g) != 0 {
				t.Fatalf("groups = %v, want none", g)
			}
		})
	}
}

func TestGenerateUserPasswordOnCreateOnly(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, func(e *gateway.Entity) { e.GenerateUserPassword = true })
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("pat@acme.com")))
	r.waitEvents(t, 1)
	got := r.user(t, "pat@acme.com")
	if has, err := r.st.HasPassword(context.Background(), got["id"].(string)); err != nil || !has {
		t.Fatalf("created user has no password: %v %v", has, err)
	}
	if strings.Contains(r.log.String(), "password") {
		t.Fatalf("the log mentions a password:\n%s", r.log)
	}
}

func TestReplaceDomainsExactDomain(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, func(e *gateway.Entity) {
		e.ReplaceDomains = []gateway.ReplaceDomain{{From: "@acme.onmicrosoft.com", To: "@acme.com"}}
	})
	u := person("eve@ACME.onmicrosoft.com", "emails", []any{
		map[string]any{"type": "work", "value": "eve@acme.onmicrosoft.com"},
		map[string]any{"type": "other", "value": "eve@sub.acme.onmicrosoft.com"},
		map[string]any{"type": "home", "value": "eve@acme.onmicrosoft.com.evil.io"},
	})
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, u))
	r.waitEvents(t, 1)
	got := r.user(t, "eve@acme.com")
	if got["userName"] != "eve@acme.com" {
		t.Errorf("userName = %v", got["userName"])
	}
	var emails []string
	for _, e := range got["emails"].([]any) {
		emails = append(emails, e.(map[string]any)["value"].(string))
	}
	want := []string{"eve@acme.com", "eve@sub.acme.onmicrosoft.com", "eve@acme.onmicrosoft.com.evil.io"}
	if !slices.Equal(emails, want) {
		t.Errorf("emails = %v, want %v", emails, want)
	}
	// A later message finds the user by the replaced userName.
	w.publish("ENTRA.APP1", nextID(), msg(wire.ModifyUser, person("eve@acme.onmicrosoft.com", "title", "CTO")))
	r.waitEvents(t, 2)
	if got := r.user(t, "eve@acme.com"); got["title"] != "CTO" {
		t.Errorf("title = %v", got["title"])
	}
}

func TestOnCreateOnlyOnCreate(t *testing.T) {
	for _, soft := range []bool{true, false} {
		t.Run(map[bool]string{true: "softSync", false: "replace"}[soft], func(t *testing.T) {
			w := newWorld(t)
			r := entraGateway(t, w, soft, nil)
			w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("oc@acme.com", "onCreate", map[string]any{"sAMAccountName": "oc1", "title": "Trainee"})))
			r.waitEvents(t, 1)
			got := r.user(t, "oc@acme.com")
			if got["sAMAccountName"] != "oc1" || got["title"] != "Trainee" || got["onCreate"] != nil {
				t.Fatalf("after create: sAMAccountName=%v title=%v onCreate=%v", got["sAMAccountName"], got["title"], got["onCreate"])
			}
			w.publish("ENTRA.APP1", nextID(), msg(wire.ModifyUser, person("oc@acme.com", "onCreate", map[string]any{"sAMAccountName": "oc2"})))
			r.waitEvents(t, 2)
			got = r.user(t, "oc@acme.com")
			if got["sAMAccountName"] != "oc1" || got["title"] != "Consultant" {
				t.Fatalf("after update: sAMAccountName=%v (want oc1 kept) title=%v (want Consultant)", got["sAMAccountName"], got["title"])
			}
		})
	}
}

func TestMessagesThatCanNeverSucceedAreTerminatedAndLogged(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, nil)
	w.publish("ENTRA.APP1", "bad-json-1", []byte(`{"activityOperation": "createUser", "user": {`))
	w.publish("ENTRA.APP1", "no-username-2", msg(wire.CreateUser, map[string]any{"displayName": "Nobody"}))
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("after@acme.com")))
	evs := r.waitEvents(t, 3)
	for i, id := range []string{"bad-json-1", "no-username-2"} {
		if evs[i].Action != gateway.ActionTerminated || evs[i].MsgID != id {
			t.Errorf("event %d: %s %s, want terminated %s", i, evs[i].Action, evs[i].MsgID, id)
		}
		if !strings.Contains(r.log.String(), "msgId="+id) {
			t.Errorf("log does not name Msg-Id %s:\n%s", id, r.log)
		}
	}
	if evs[2].Action != gateway.ActionCreated {
		t.Fatalf("the message after the bad ones: %s", evs[2].Action)
	}
	// Terminated messages do not come back.
	r.stop()
	r2 := entraGateway(t, w, true, nil)
	w.publish("ENTRA.APP1", nextID(), msg(wire.ModifyUser, person("after@acme.com", "title", "x")))
	if evs := r2.waitEvents(t, 1); evs[0].UserName != "after@acme.com" || len(r2.eventList()) != 1 {
		t.Fatalf("after restart got %+v; want only the new message", r2.eventList())
	}
}

func TestMessageWithoutMsgIDIsAppliedAndLogged(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, nil)
	w.publish("ENTRA.APP1", "", msg(wire.CreateUser, person("noid@acme.com")))
	if evs := r.waitEvents(t, 1); evs[0].Action != gateway.ActionCreated {
		t.Fatalf("action %s", evs[0].Action)
	}
	if !strings.Contains(r.log.String(), "without Msg-Id") {
		t.Errorf("no warning about the missing Msg-Id:\n%s", r.log)
	}
}

// The demo's gateway: one store fed by an HR channel and an Entra channel at once.
func TestTwoChannelsIntoOneStore(t *testing.T) {
	w := newWorld(t)
	r := w.start(w.config("demo", true, map[string]gateway.Entity{
		"hr":   w.entity("demo", "hr", "HR.SF"),
		"app5": w.entity("demo", "app5", "ENTRA.APP5"),
	}))
	const n = 30
	for i := range n {
		name := fmt.Sprintf("p%02d@acme.com", i)
		// Both channels race to create the same people.
		w.publish("HR.SF", nextID(), msg(wire.CreateUser, person(name, "title", "Engineer", "employeeNumber", fmt.Sprint(i))))
		w.publish("ENTRA.APP5", nextID(), msg(wire.CreateUser, person(name, "title", "Engineer", "roles", []any{role("App5", "User", "App5Users")})))
	}
	evs := r.waitEvents(t, 2*n)
	created := 0
	for _, e := range evs {
		switch e.Action {
		case gateway.ActionCreated:
			created++
		case gateway.ActionModified, gateway.ActionUnchanged:
		default:
			t.Errorf("%s %s: %s %v", e.Subject, e.UserName, e.Action, e.Err)
		}
	}
	if created != n {
		t.Errorf("%d creates, want exactly %d (one per person)", created, n)
	}
	for i := range n {
		u := r.user(t, fmt.Sprintf("p%02d@acme.com", i))
		if u["employeeNumber"] != fmt.Sprint(i) || !slices.Equal(groupNames(u), []string{"App5Users"}) {
			t.Errorf("%s: employeeNumber %v groups %v", u["userName"], u["employeeNumber"], groupNames(u))
		}
	}
}

// TestUnnamedGroupRemovalIsReported: a remove of the whole roles attribute names no role, so the gateway cannot
// tell which membership ended; it applies the rest and says so in the log with the Msg-Id.
func TestUnnamedGroupRemovalIsReported(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, nil)
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("una@acme.com", "roles", []any{role("App1", "User access", "Users")})))
	w.publish("ENTRA.APP1", "unnamed-2", msg(wire.ModifyUser, person("una@acme.com", "title", "Lead"), scim.Operation{Op: "remove", Path: "roles"}))
	evs := r.waitEvents(t, 2)
	if evs[1].Action != gateway.ActionModified || !strings.Contains(evs[1].Warning, "without naming them") {
		t.Fatalf("event %+v, want modified with a warning", evs[1])
	}
	if !strings.Contains(r.log.String(), "applied in part") || !strings.Contains(r.log.String(), "msgId=unnamed-2") {
		t.Fatalf("no warning with the Msg-Id in the log:\n%s", r.log)
	}
	if got := r.user(t, "una@acme.com"); got["title"] != "Lead" {
		t.Fatalf("title %v: the rest of the message was not applied", got["title"])
	}
}
