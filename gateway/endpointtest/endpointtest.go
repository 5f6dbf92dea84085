// Package endpointtest is the conformance suite every endpoint.Endpoint passes. An endpoint package runs it from
// its tests:
//
//	func TestConformance(t *testing.T) {
//		endpointtest.Run(t, func(t *testing.T) endpoint.Endpoint { return openMine(t) })
//	}
//
// open is called once per sub-test and the suite closes what it returns. The suite uses unique userNames and
// group names in every sub-test, so open may hand out endpoints that share one backend (an LDAP subtree, an
// upstream SCIM service) as long as it starts without users named like the suite's ("ept-…").
package endpointtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

// Run runs every conformance check as a sub-test of t.
func Run(t *testing.T, open func(t *testing.T) endpoint.Endpoint) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ep := open(t)
			t.Cleanup(func() {
				if err := ep.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c.run(t, &suite{ctx: ctx, ep: ep, tag: uniq()})
		})
	}
}

type suite struct {
	ctx context.Context
	ep  endpoint.Endpoint
	tag string
}

func uniq() string { return strings.ToLower(rand.Text()[:8]) }

// name returns a userName unique to this sub-test.
func (s *suite) name(local string) string { return fmt.Sprintf("ept-%s-%s@example.com", local, s.tag) }

func (s *suite) group(name string) string { return fmt.Sprintf("ept-%s-%s", name, s.tag) }

// user is the attribute set every endpoint must keep (inetOrgPerson and AD can hold all of it).
func (s *suite) user(local string) scim.User {
	return scim.User{
		"userName":    s.name(local),
		"active":      true,
		"displayName": "Bjørn Ødegård",
		"title":       "Consultant",
		"name":        map[string]any{"givenName": "Bjørn", "familyName": "Ødegård"},
		"emails":      []any{map[string]any{"type": "work", "value": s.name(local), "primary": true}},
	}
}

func (s *suite) create(t *testing.T, u scim.User) scim.User {
	t.Helper()
	got, err := s.ep.CreateUser(s.ctx, u)
	if err != nil {
		t.Fatalf("CreateUser %v: %v", u["userName"], err)
	}
	if id(got) == "" {
		t.Fatalf("CreateUser returned no id: %v", got)
	}
	return got
}

func (s *suite) createGroup(t *testing.T, name string) scim.Group {
	t.Helper()
	g, err := s.ep.CreateGroup(s.ctx, scim.Group{"displayName": name})
	if err != nil {
		t.Fatalf("CreateGroup %q: %v", name, err)
	}
	if idOf(g) == "" {
		t.Fatalf("CreateGroup returned no id: %v", g)
	}
	return g
}

func id(u scim.User) string    { s, _ := u["id"].(string); return s }
func idOf(g scim.Group) string { s, _ := g["id"].(string); return s }

func str(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func wantErr(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: got error %v, want one wrapping %q", what, err, sentinel)
	}
}

func members(g scim.Group) []string {
	var ids []string
	arr, _ := g["members"].([]any)
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			if v, ok := m["value"].(string); ok {
				ids = append(ids, v)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func (s *suite) members(t *testing.T, gid string) []string {
	t.Helper()
	g, err := s.ep.GetGroup(s.ctx, gid)
	if err != nil {
		t.Fatalf("GetGroup %s: %v", gid, err)
	}
	return members(g)
}

var cases = []struct {
	name string
	run  func(t *testing.T, s *suite)
}{
	{"CreateAndFindUser", func(t *testing.T, s *suite) {
		created := s.create(t, s.user("create"))
		if created["userName"] != s.name("create") {
			t.Errorf("created userName = %v, want %s", created["userName"], s.name("create"))
		}
		for _, n := range []string{s.name("create"), strings.ToUpper(s.name("create"))} {
			got, err := s.ep.FindUser(s.ctx, n)
			if err != nil {
				t.Fatalf("FindUser %q (userName is case-insensitive): %v", n, err)
			}
			if id(got) != id(created) {
				t.Fatalf("FindUser %q: id %q, want %q", n, id(got), id(created))
			}
			checkAttrs(t, got, s.user("create"))
		}
		got, err := s.ep.GetUser(s.ctx, id(created))
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		checkAttrs(t, got, s.user("create"))
	}},
	{"UnknownUserIsNotFound", func(t *testing.T, s *suite) {
		_, err := s.ep.FindUser(s.ctx, s.name("nobody"))
		wantErr(t, "FindUser of an unknown userName", err, endpoint.ErrNotFound)
		created := s.create(t, s.user("gone"))
		if err := s.ep.DeleteUser(s.ctx, id(created)); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		_, err = s.ep.GetUser(s.ctx, id(created))
		wantErr(t, "GetUser of a deleted id", err, endpoint.ErrNotFound)
		_, err = s.ep.FindUser(s.ctx, s.name("gone"))
		wantErr(t, "FindUser of a deleted user", err, endpoint.ErrNotFound)
		wantErr(t, "DeleteUser twice", s.ep.DeleteUser(s.ctx, id(created)), endpoint.ErrNotFound)
		_, err = s.ep.ReplaceUser(s.ctx, id(created), s.user("gone"))
		wantErr(t, "ReplaceUser of a deleted id", err, endpoint.ErrNotFound)
		_, err = s.ep.ModifyUser(s.ctx, id(created), scim.User{"title": "x"})
		wantErr(t, "ModifyUser of a deleted id", err, endpoint.ErrNotFound)
	}},
	{"DuplicateUserNameIsConflict", func(t *testing.T, s *suite) {
		s.create(t, s.user("dup"))
		u := s.user("dup")
		u["userName"] = strings.ToUpper(s.name("dup"))
		_, err := s.ep.CreateUser(s.ctx, u)
		wantErr(t, "CreateUser with a taken userName (other case)", err, endpoint.ErrConflict)
		other := s.create(t, s.user("other"))
		_, err = s.ep.ReplaceUser(s.ctx, id(other), s.user("dup"))
		wantErr(t, "ReplaceUser to a taken userName", err, endpoint.ErrConflict)
		_, err = s.ep.ModifyUser(s.ctx, id(other), scim.User{"userName": s.name("dup")})
		wantErr(t, "ModifyUser to a taken userName", err, endpoint.ErrConflict)
	}},
	{"UserWithoutUserNameIsInvalid", func(t *testing.T, s *suite) {
		_, err := s.ep.CreateUser(s.ctx, scim.User{"displayName": "No Name"})
		wantErr(t, "CreateUser without userName", err, endpoint.ErrInvalid)
	}},
	{"ReplaceUser", func(t *testing.T, s *suite) {
		created := s.create(t, s.user("replace"))
		next := s.user("replace")
		delete(next, "title")
		next["displayName"] = "Bjørn Ø. Ødegård"
		next["name"] = map[string]any{"givenName": "Bjørn"}
		next["active"] = false
		got, err := s.ep.ReplaceUser(s.ctx, id(created), next)
		if err != nil {
			t.Fatalf("ReplaceUser: %v", err)
		}
		if id(got) != id(created) {
			t.Fatalf("ReplaceUser changed the id: %q -> %q", id(created), id(got))
		}
		got, err = s.ep.GetUser(s.ctx, id(created))
		if err != nil {
			t.Fatal(err)
		}
		checkAttrs(t, got, next)
		if got["title"] != nil {
			t.Errorf("ReplaceUser kept title %v, which the new value does not have", got["title"])
		}
		if fn := str(got, "name", "familyName"); fn != nil {
			t.Errorf("ReplaceUser kept name.familyName %v, which the new value does not have", fn)
		}
		renamed := s.user("renamed")
		if _, err := s.ep.ReplaceUser(s.ctx, id(created), renamed); err != nil {
			t.Fatalf("ReplaceUser with a new userName: %v", err)
		}
		if got, err := s.ep.FindUser(s.ctx, s.name("renamed")); err != nil || id(got) != id(created) {
			t.Fatalf("FindUser by the new userName: %v %v", id(got), err)
		}
		_, err = s.ep.FindUser(s.ctx, s.name("replace"))
		wantErr(t, "FindUser by the old userName after a rename", err, endpoint.ErrNotFound)
	}},
	{"ModifyUserChangesOnlyWhatIsPresent", func(t *testing.T, s *suite) {
		created := s.create(t, s.user("modify"))
		_, err := s.ep.ModifyUser(s.ctx, id(created), scim.User{
			"title": "Manager",
			"name":  map[string]any{"givenName": "Björn"},
		})
		if err != nil {
			t.Fatalf("ModifyUser: %v", err)
		}
		got, err := s.ep.GetUser(s.ctx, id(created))
		if err != nil {
			t.Fatal(err)
		}
		want := s.user("modify")
		want["title"] = "Manager"
		want["name"] = map[string]any{"givenName": "Björn", "familyName": "Ødegård"}
		checkAttrs(t, got, want)
		if _, err := s.ep.ModifyUser(s.ctx, id(created), scim.User{"title": nil}); err != nil {
			t.Fatalf("ModifyUser removing title: %v", err)
		}
		got, err = s.ep.GetUser(s.ctx, id(created))
		if err != nil {
			t.Fatal(err)
		}
		if got["title"] != nil {
			t.Errorf("ModifyUser {title: null} left title %v", got["title"])
		}
		delete(want, "title")
		checkAttrs(t, got, want)
		if _, err := s.ep.ModifyUser(s.ctx, id(created), scim.User{"active": false}); err != nil {
			t.Fatalf("ModifyUser active false: %v", err)
		}
		got, _ = s.ep.GetUser(s.ctx, id(created))
		if got["active"] != false {
			t.Errorf("active = %v after ModifyUser {active: false}", got["active"])
		}
	}},
	{"ListUsers", func(t *testing.T, s *suite) {
		a := s.create(t, s.user("list-a"))
		b := s.create(t, s.user("list-b"))
		for _, f := range []string{"", fmt.Sprintf("userName eq %q", s.name("list-a"))} {
			us, err := s.ep.ListUsers(s.ctx, f)
			if err != nil {
				t.Fatalf("ListUsers(%q): %v", f, err)
			}
			ids := map[string]bool{}
			for _, u := range us {
				ids[id(u)] = true
			}
			if !ids[id(a)] || (f == "" && !ids[id(b)]) {
				t.Errorf("ListUsers(%q) = %d users without the created ones", f, len(us))
			}
		}
	}},
	{"Groups", func(t *testing.T, s *suite) {
		g := s.createGroup(t, s.group("staff"))
		if g["displayName"] != s.group("staff") {
			t.Errorf("displayName = %v", g["displayName"])
		}
		_, err := s.ep.CreateGroup(s.ctx, scim.Group{"displayName": strings.ToUpper(s.group("staff"))})
		wantErr(t, "CreateGroup with a taken displayName (other case)", err, endpoint.ErrConflict)
		_, err = s.ep.CreateGroup(s.ctx, scim.Group{})
		wantErr(t, "CreateGroup without displayName", err, endpoint.ErrInvalid)
		got, err := s.ep.GetGroup(s.ctx, idOf(g))
		if err != nil || got["displayName"] != s.group("staff") {
			t.Fatalf("GetGroup: %v %v", got, err)
		}
		gs, err := s.ep.ListGroups(s.ctx, fmt.Sprintf("displayName eq %q", s.group("staff")))
		if err != nil || !slices.ContainsFunc(gs, func(x scim.Group) bool { return idOf(x) == idOf(g) }) {
			t.Fatalf("ListGroups by displayName: %v %v", gs, err)
		}
		gs, err = s.ep.ListGroups(s.ctx, "")
		if err != nil || !slices.ContainsFunc(gs, func(x scim.Group) bool { return idOf(x) == idOf(g) }) {
			t.Fatalf("ListGroups: %v %v", gs, err)
		}
		if _, err := s.ep.ReplaceGroup(s.ctx, idOf(g), scim.Group{"displayName": s.group("personnel")}); err != nil {
			t.Fatalf("ReplaceGroup: %v", err)
		}
		got, _ = s.ep.GetGroup(s.ctx, idOf(g))
		if got["displayName"] != s.group("personnel") {
			t.Errorf("displayName after ReplaceGroup = %v", got["displayName"])
		}
		if err := s.ep.DeleteGroup(s.ctx, idOf(g)); err != nil {
			t.Fatalf("DeleteGroup: %v", err)
		}
		_, err = s.ep.GetGroup(s.ctx, idOf(g))
		wantErr(t, "GetGroup after DeleteGroup", err, endpoint.ErrNotFound)
		wantErr(t, "DeleteGroup twice", s.ep.DeleteGroup(s.ctx, idOf(g)), endpoint.ErrNotFound)
		wantErr(t, "AddMembers to a deleted group", s.ep.AddMembers(s.ctx, idOf(g)), endpoint.ErrNotFound)
		// The old name is free again.
		s.createGroup(t, s.group("staff"))
	}},
	{"MembershipIsIdempotent", func(t *testing.T, s *suite) {
		g := s.createGroup(t, s.group("members"))
		a := s.create(t, s.user("member-a"))
		b := s.create(t, s.user("member-b"))
		for range 2 {
			if err := s.ep.AddMembers(s.ctx, idOf(g), id(a), id(b)); err != nil {
				t.Fatalf("AddMembers: %v", err)
			}
		}
		want := []string{id(a), id(b)}
		slices.Sort(want)
		if got := s.members(t, idOf(g)); !slices.Equal(got, want) {
			t.Fatalf("members = %v, want %v", got, want)
		}
		for range 2 {
			if err := s.ep.RemoveMembers(s.ctx, idOf(g), id(a)); err != nil {
				t.Fatalf("RemoveMembers: %v", err)
			}
		}
		if got := s.members(t, idOf(g)); !slices.Equal(got, []string{id(b)}) {
			t.Fatalf("members after removing a = %v, want [%s]", got, id(b))
		}
		// Replacing a user keeps its memberships: groups are not part of a user's PUT.
		if _, err := s.ep.ReplaceUser(s.ctx, id(b), s.user("member-b")); err != nil {
			t.Fatal(err)
		}
		if got := s.members(t, idOf(g)); !slices.Equal(got, []string{id(b)}) {
			t.Fatalf("members after ReplaceUser = %v, want [%s]", got, id(b))
		}
		if err := s.ep.DeleteUser(s.ctx, id(b)); err != nil {
			t.Fatal(err)
		}
		if got := s.members(t, idOf(g)); len(got) != 0 {
			t.Fatalf("members after deleting the member = %v, want none", got)
		}
	}},
	{"ConcurrentCreatesOfOneUserName", func(t *testing.T, s *suite) {
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = s.ep.CreateUser(s.ctx, s.user("race")) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, endpoint.ErrConflict):
			default:
				t.Errorf("concurrent CreateUser: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of %d concurrent creates of one userName succeeded, want exactly 1", ok, n)
		}
	}},
	{"ConcurrentDistinctCreates", func(t *testing.T, s *suite) {
		const n = 20
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = s.ep.CreateUser(s.ctx, s.user(fmt.Sprintf("par%d", i))) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("CreateUser par%d: %v", i, err)
			}
			if _, err := s.ep.FindUser(s.ctx, s.name(fmt.Sprintf("par%d", i))); err != nil {
				t.Errorf("FindUser par%d: %v", i, err)
			}
		}
	}},
}

// checkAttrs checks that got holds want's attributes (got may have more, e.g. id, meta, groups).
func checkAttrs(t *testing.T, got, want scim.User) {
	t.Helper()
	for _, k := range []string{"userName", "active", "displayName", "title"} {
		if w, ok := want[k]; ok && got[k] != w {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}
	for _, k := range []string{"givenName", "familyName"} {
		if w := str(want, "name", k); w != nil && str(got, "name", k) != w {
			t.Errorf("name.%s = %#v, want %#v", k, str(got, "name", k), w)
		}
	}
	if w := workEmail(want); w != "" && !strings.EqualFold(workEmail(got), w) {
		t.Errorf("work email = %q, want %q", workEmail(got), w)
	}
}

func workEmail(u scim.User) string {
	arr, _ := u["emails"].([]any)
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok && m["type"] == "work" {
			v, _ := m["value"].(string)
			return v
		}
	}
	return ""
}
