package entra_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/collector/entra"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// TestDocsExample is the acceptance of the Entra collector with the documentation's five-channel example: the
// initial publication, an application role assignment, a nested group, soft and hard deletes, an expired delta
// token and guests, each checked as the messages the subscriber of every channel receives.
func TestDocsExample(t *testing.T) {
	w := newWorld(t, func(co *graph.Company) {
		// Karl holds Application1's Admins role before the first collection, so that granting him Employees
		// is the documentation's example (a role added to a user who already has one).
		must(t, co.AssignAppRole(co.Admin, co.App1, co.Users["karl.nilsen"], "Admins"))
		// An App3 group nested in App3_Users, empty for now.
		co.Groups["App3_Contractors"] = co.AddGroup(co.Admin, "", "App3_Contractors")
		must(t, co.AddMember(co.Admin, co.Groups["App3_Users"], co.Groups["App3_Contractors"]))
	}, nil)
	co := w.co

	// First collection: every in-scope user is new to the pipeline. Application1's role holders are the
	// Engineering members (Employees through the group nested in Engineering), John (Admins) and Karl.
	st := w.collect()
	if !st.Full {
		t.Errorf("first collection: %v, want full", st)
	}
	app1 := []string{"john.smith", "bjorn.odegard", "chloe.martin", "david.kim", "eva.schmidt", "karl.nilsen"}
	got := w.drain()
	expect(t, "initial", got, map[string][]string{
		"APP1": each(wire.CreateUser, app1...),
		// APP2 tests group object ids, but group values are display names unless use_original_group_id
		// (TestDocsExampleGroupIDs): as written in the documentation it matches nobody.
		"APP3": each(wire.CreateUser, "chloe.martin", "george.brown", "john.smith", "bjorn.odegard", "david.kim", "eva.schmidt"),
		"APP4": each(wire.CreateUser, people...),
		"APP5": each(wire.CreateUser, append(slices.Clone(people), syncUser, svcUser)...),
	})
	john := find(t, got, "APP1", "john.smith")
	if r := roleList(john.User); !slices.Equal(r, []string{"Application1/Admins/Admins access", "Application1/Employees/Employees access"}) {
		t.Errorf("APP1 keeps Application1's roles only: john's roles %q", r)
	}
	if g := groupList(john.User); len(g) != 0 {
		t.Errorf("APP1's rules name no group: john's groups %q", g)
	}
	if g := groupList(find(t, got, "APP5", "bjorn.odegard").User); !slices.Equal(g, []string{"All Employees", "Engineering", "Engineering-Backend"}) {
		t.Errorf("APP5 (.*): bjørn's groups %q, want his group and the two it is nested in", g)
	}
	if r := roleList(find(t, got, "APP5", "julia.rossi").User); !slices.Equal(r, []string{"HR Portal/Manager/Manager", "HR Portal/Reader/Reader"}) {
		t.Errorf("APP5 (.*): julia's roles %q", r)
	}

	t.Run("role assigned", func(t *testing.T) {
		// The documentation's example: Employees of Application1 added to a user who has Admins. The role
		// change is found through the audit log (it re-reads the application's assignments).
		must(t, co.AssignAppRole(co.Admin, co.App1, co.Users["karl.nilsen"], "Employees"))
		got := w.collectUntil("karl's Employees role", func(m map[string][]msg) bool { return len(m["APP1"]) > 0 })
		expect(t, "role assigned", got, map[string][]string{
			"APP1": {"modifyUser karl.nilsen"},
			"APP3": {"createUser karl.nilsen"}, // enters scope: Application1 Employees
			"APP5": {"modifyUser karl.nilsen"},
		})
		m := find(t, got, "APP1", "karl.nilsen")
		wantOps := []any{map[string]any{"op": "add", "path": "roles", "value": []any{
			map[string]any{"type": "Application1", "display": "Employees access", "value": "Employees", "appId": co.App1}}}}
		if !reflect.DeepEqual(m.raw["Operations"], wantOps) {
			t.Errorf("Operations = %v, want %v", m.raw["Operations"], wantOps)
		}
		if r := roleList(m.User); !slices.Equal(r, []string{"Application1/Admins/Admins access", "Application1/Employees/Employees access"}) {
			t.Errorf("user.roles = %q, want both Application1 roles and nothing of HR Portal", r)
		}
		// The full user, as the default Entra mapper maps it.
		u := m.User
		for path, want := range map[string]any{
			"userName": "karl.nilsen@mycompany.com", "active": true, "displayName": "Karl Nilsen", "title": "HR Advisor",
			"name.givenName": "Karl", "name.familyName": "Nilsen", "name.formatted": "Karl Nilsen", "externalId": "karl.nilsen",
			`emails[type eq "work"].value`:                                             "karl.nilsen@mycompany.com",
			`addresses[type eq "work"].city`:                                           "Oslo",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":    "Human Resources",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "julia.rossi@mycompany.com",
		} {
			if v, _ := u.Get(path); v != want {
				t.Errorf("user %s = %v, want %v", path, v, want)
			}
		}
		if m.ActivityOperation != wire.ModifyUser || m.TargetID != co.Users["karl.nilsen"] || m.TargetUPN != "karl.nilsen@mycompany.com" {
			t.Errorf("envelope: %s target %s/%s", m.ActivityOperation, m.TargetID, m.TargetUPN)
		}
		if m.InitiatedByUPN != co.Admin.UPN || m.InitiatedByID != co.Admin.ID {
			t.Errorf("initiatedBy = %s/%s, want the administrator from the audit log", m.InitiatedByID, m.InitiatedByUPN)
		}
		if at, err := time.Parse(time.RFC3339Nano, m.ActivityDateTime); err != nil || time.Since(at) > time.Minute {
			t.Errorf("activityDateTime = %q", m.ActivityDateTime)
		}
		// The wire order of the documentation's message.
		keys := []string{`"activityOperation"`, `"activityDateTime"`, `"initiatedById"`, `"initiatedByUpn"`, `"targetId"`, `"targetUpn"`, `"Operations"`, `"user"`}
		b := m.data
		last := -1
		for _, k := range keys {
			i := strings.Index(string(b), k)
			if i < last {
				t.Errorf("message field %s out of the documentation's order: %s", k, b)
			}
			last = i
		}
	})

	t.Run("new application", func(t *testing.T) {
		// An application registered after the first collection: its assignments are read once the audit log
		// reports one, and APP5 (.*) carries every application's roles.
		travel := co.AddApplication(co.Admin, "", "Travel", graph.AppRole{DisplayName: "Travel booker", Value: "Booker"})
		must(t, co.AssignAppRole(co.Admin, travel, co.Users["paula.silva"], "Booker"))
		got := w.collectUntil("paula's Travel role", func(m map[string][]msg) bool { return len(m["APP5"]) > 0 })
		expect(t, "new application", got, map[string][]string{"APP5": {"modifyUser paula.silva"}})
		if r := roleList(find(t, got, "APP5", "paula.silva").User); !slices.Equal(r, []string{"HR Portal/Reader/Reader", "Travel/Booker/Travel booker"}) {
			t.Errorf("paula's roles %q", r)
		}
	})

	t.Run("nested group", func(t *testing.T) {
		// Nora joins App3_Contractors, which is nested in App3_Users: she is in both.
		must(t, co.AddMember(co.Admin, co.Groups["App3_Contractors"], co.Users["nora.hansen"]))
		got := w.collectUntil("nora's groups", func(m map[string][]msg) bool { return len(m["APP5"]) > 0 })
		expect(t, "nested group", got, map[string][]string{
			"APP3": {"createUser nora.hansen"},
			"APP5": {"modifyUser nora.hansen"},
		})
		if g := groupList(find(t, got, "APP3", "nora.hansen").User); !slices.Equal(g, []string{"App3_Contractors", "App3_Users"}) {
			t.Errorf("APP3: nora's groups %q, want App3_Contractors and App3_Users (and none of her other groups)", g)
		}
		m := find(t, got, "APP5", "nora.hansen")
		if g := groupList(m.User); !slices.Equal(g, []string{"All Employees", "App3_Contractors", "App3_Users", "App4_Staff", "Operations"}) {
			t.Errorf("APP5: nora's groups %q", g)
		}
		var added []string
		for _, op := range m.Operations {
			if op.Op != "add" || op.Path != "groups" {
				t.Errorf("operation %+v, want add on groups only", op)
				continue
			}
			for _, v := range op.Value.([]any) {
				added = append(added, v.(map[string]any)["display"].(string))
			}
		}
		slices.Sort(added)
		if !slices.Equal(added, []string{"App3_Contractors", "App3_Users"}) {
			t.Errorf("added groups %q, want both", added)
		}
	})

	george := co.Users["george.brown"]
	t.Run("soft delete", func(t *testing.T) {
		must(t, co.DeleteUser(co.Admin, george))
		got := w.collectUntil("george's soft delete", func(m map[string][]msg) bool { return len(m["APP5"]) > 0 })
		expect(t, "soft delete", got, map[string][]string{
			"APP3": {"modifyUser george.brown"}, "APP4": {"modifyUser george.brown"}, "APP5": {"modifyUser george.brown"},
		})
		for _, ch := range []string{"APP3", "APP4", "APP5"} {
			m := find(t, got, ch, "george.brown")
			if m.User["active"] != false {
				t.Errorf("%s: active = %v, want false", ch, m.User["active"])
			}
			if want := []scim.Operation{{Op: "replace", Path: "active", Value: false}}; !reflect.DeepEqual(m.Operations, want) {
				t.Errorf("%s: Operations = %+v, want %+v", ch, m.Operations, want)
			}
		}
	})

	t.Run("hard delete", func(t *testing.T) {
		must(t, co.PurgeUser(co.Admin, george))
		got := w.collectUntil("george's hard delete", func(m map[string][]msg) bool { return len(m["APP5"]) > 0 })
		expect(t, "hard delete", got, map[string][]string{
			"APP3": {"deleteUser george.brown"}, "APP4": {"deleteUser george.brown"}, "APP5": {"deleteUser george.brown"},
		})
		if m := find(t, got, "APP5", "george.brown"); m.TargetID != george || len(m.Operations) != 0 {
			t.Errorf("deleteUser: target %s, Operations %v", m.TargetID, m.Operations)
		}
	})

	t.Run("expired delta token", func(t *testing.T) {
		must(t, co.UpdateUser(co.Admin, co.Users["eva.schmidt"], map[string]any{"jobTitle": "Senior Consultant"}))
		w.srv.ExpireDeltaTokens()
		st := w.collect()
		if !st.Full {
			t.Fatalf("after 410: %v, want a full resync", st)
		}
		// The resync sees everybody again; only Eva changed, so only her messages are published.
		got := w.drain()
		expect(t, "resync", got, map[string][]string{
			"APP1": {"modifyUser eva.schmidt"}, "APP3": {"modifyUser eva.schmidt"},
			"APP4": {"modifyUser eva.schmidt"}, "APP5": {"modifyUser eva.schmidt"},
		})
		if st.Seen < len(people) || st.Published != 4 {
			t.Errorf("resync stats %v: want every user seen and 4 messages", st)
		}
		if m := find(t, got, "APP5", "eva.schmidt"); m.User["title"] != "Senior Consultant" {
			t.Errorf("title = %v", m.User["title"])
		}
		gone := 0
		for _, r := range w.srv.Requests() {
			if r.Status == 410 {
				gone++
			}
		}
		if gone == 0 {
			t.Error("the imitation never answered 410")
		}
		if st := w.collect(); st.Full || st.Published != 0 {
			t.Errorf("after the resync: %v, want an incremental collection publishing nothing", st)
		}
	})

	guest := co.Users["guest.partner"]
	t.Run("guests", func(t *testing.T) {
		must(t, co.UpdateUser(co.Admin, guest, map[string]any{"jobTitle": "Partner"}))
		if got := w.collectUntil("nothing", func(map[string][]msg) bool { return true }); len(got) != 0 {
			t.Errorf("a guest's change without include_guest_users: %v", summary(got))
		}
		// The operator enables guests: the configuration changes, the source is rebuilt and collects in full;
		// only the guest is new.
		w.cfg.General.Entra.IncludeGuestUsers = true
		w.rebuild()
		got := w.collectUntil("the guest", func(m map[string][]msg) bool { return len(m["APP5"]) > 0 })
		expect(t, "guests included", got, map[string][]string{"APP5": {"createUser guest.partner_partner.com#EXT#"}})
		if m := find(t, got, "APP5", "guest.partner_partner.com#EXT#"); m.User["title"] != "Partner" {
			t.Errorf("guest title = %v", m.User["title"])
		}
	})
}

// TestDocsExampleSyncAccountExcluded adds the documentation's Active Directory rule to the example: changes
// made by the Entra Connect sync account (Sync_…) are excluded from that channel, everyone else's pass. The
// rule reads initiatedByUpn, so entra.OptionsFor makes the source hold changes until the audit log (here one
// second behind, as in Entra) names who made them.
func TestDocsExampleSyncAccountExcluded(t *testing.T) {
	w := newWorld(t, nil, func(w *world, tc *config.Tenant) {
		tc.Streams = append(tc.Streams, syncRule(w.co.App1))
	})
	co := w.co
	if opts := entra.OptionsFor(w.tenant, entra.Options{}); opts.AttributionWait != time.Duration(config.DefaultAttributionWait)*time.Second {
		t.Fatalf("AttributionWait = %v, want general.entra.attribution_wait's default", opts.AttributionWait)
	}
	w.collect()
	got := w.drain()
	app1 := []string{"john.smith", "bjorn.odegard", "chloe.martin", "david.kim", "eva.schmidt"}
	if !slices.Equal(names(got["AD"]), sorted(app1)) {
		t.Errorf("initial AD: %v, want Application1's role holders", names(got["AD"]))
	}

	co.SetAuditDelay(time.Second)
	must(t, co.UpdateUser(co.Sync, co.Users["david.kim"], map[string]any{"jobTitle": "SRE Lead"}))
	must(t, co.UpdateUser(co.Admin, co.Users["eva.schmidt"], map[string]any{"jobTitle": "Principal Consultant"}))
	must(t, co.AssignAppRole(co.Sync, co.App1, co.Users["paula.silva"], "Employees"))
	got = w.collectUntil("all three changes", func(m map[string][]msg) bool { return len(m["APP1"]) == 3 })
	expect(t, "attributed changes", got, map[string][]string{
		"AD":   {"modifyUser eva.schmidt"},
		"APP1": {"modifyUser david.kim", "modifyUser eva.schmidt", "createUser paula.silva"},
		"APP3": {"modifyUser david.kim", "modifyUser eva.schmidt", "createUser paula.silva"},
		"APP4": {"modifyUser david.kim", "modifyUser eva.schmidt"}, // APP4 carries no roles
		"APP5": {"modifyUser david.kim", "modifyUser eva.schmidt", "modifyUser paula.silva"},
	})
	for _, m := range got["APP5"] {
		want := co.Sync.UPN
		if m.nick() == "eva.schmidt" {
			want = co.Admin.UPN
		}
		if m.InitiatedByUPN != want {
			t.Errorf("%s: initiatedByUpn %q, want %q", m, m.InitiatedByUPN, want)
		}
	}

	// The sync account deletes a user who held the role: the deletion is not sent back to AD either.
	must(t, co.PurgeUser(co.Sync, co.Users["bjorn.odegard"]))
	got = w.collectUntil("the deletion", func(m map[string][]msg) bool { return len(m["APP5"]) > 0 })
	expect(t, "deletion by the sync account", got, map[string][]string{
		"APP1": {"deleteUser bjorn.odegard"}, "APP3": {"deleteUser bjorn.odegard"},
		"APP4": {"deleteUser bjorn.odegard"}, "APP5": {"deleteUser bjorn.odegard"},
	})
}

// TestDocsExampleGroupIDs: the example's APP2 selects two groups by object id, which works with
// use_original_group_id (group value = object id).
func TestDocsExampleGroupIDs(t *testing.T) {
	w := newWorld(t, nil, func(_ *world, tc *config.Tenant) { tc.General.Entra.UseOriginalGroupID = true })
	w.collect()
	got := w.drain()
	if n := names(got["APP2"]); !slices.Equal(n, sorted([]string{"fatima.khan", "george.brown", "hanna.berg", "ivan.petrov", "eva.schmidt"})) {
		t.Errorf("APP2 = %v, want the members of Sales and Consultants", n)
	}
	ivan := find(t, got, "APP2", "ivan.petrov")
	var values []string
	for _, g := range ivan.User["groups"].([]any) {
		values = append(values, g.(map[string]any)["value"].(string))
	}
	if want := sorted([]string{w.co.Groups["Sales"], w.co.Groups["Consultants"]}); !slices.Equal(sorted(values), want) {
		t.Errorf("APP2: ivan's group values %q, want the two groups' object ids only", values)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestThrottleStorm: Graph answers 429 with Retry-After during the initial load and again during an
// incremental collection with changes of every kind (attributes, a nested membership, a role through the audit
// log). Nothing is lost or published twice, and no request is repeated before Retry-After (checked on the
// imitation's request log).
func TestThrottleStorm(t *testing.T) {
	w := newWorld(t, nil, nil)
	co := w.co
	const storm = 6
	w.srv.Throttle(storm, time.Second)
	w.collect()
	got := w.drain()
	if n := names(got["APP5"]); len(n) != len(people)+2 {
		t.Errorf("initial load under throttling published %d users on APP5, want %d: %v", len(n), len(people)+2, n)
	}

	must(t, co.UpdateUser(co.Admin, co.Users["hanna.berg"], map[string]any{"city": "Bergen"}))
	must(t, co.UpdateUser(co.Admin, co.Users["oscar.lind"], map[string]any{"jobTitle": "CFO"}))
	must(t, co.AddMember(co.Admin, co.Groups["Engineering-Backend"], co.Users["mohammed.ali"]))
	must(t, co.AssignAppRole(co.Admin, co.App1, co.Users["rita.moreau"], "Admins"))
	w.srv.Throttle(storm, time.Second)
	got = w.collectUntil("every change", func(m map[string][]msg) bool { return len(m["APP1"]) == 2 })
	expect(t, "changes under throttling", got, map[string][]string{
		// Mohammed gets Application1 Employees through Engineering-Backend ⊂ Engineering; Rita Admins directly.
		"APP1": {"createUser mohammed.ali", "createUser rita.moreau"},
		"APP3": {"createUser mohammed.ali"},
		"APP4": {"modifyUser hanna.berg", "modifyUser oscar.lind"},
		"APP5": {"modifyUser hanna.berg", "modifyUser mohammed.ali", "modifyUser oscar.lind", "modifyUser rita.moreau"},
	})
	if m := find(t, got, "APP5", "hanna.berg"); m.User[`addresses`] == nil || !strings.Contains(string(m.data), `"city":"Bergen"`) {
		t.Errorf("hanna's change: %s", m.data)
	}

	reqs := w.srv.Requests()
	throttled := 0
	for i, r := range reqs {
		if r.Status != 429 {
			continue
		}
		throttled++
		retried := false
		for _, next := range reqs[i+1:] {
			if next.Path == r.Path && next.Query == r.Query {
				retried = true
				if gap := next.At.Sub(r.At); gap < 950*time.Millisecond {
					t.Errorf("%s repeated after %v; Retry-After was 1 s", r.Path, gap)
				}
				break
			}
		}
		if !retried {
			t.Errorf("%s?%s throttled and never repeated", r.Path, r.Query)
		}
	}
	if throttled != 2*storm {
		t.Errorf("%d throttled answers, want %d", throttled, 2*storm)
	}
}
