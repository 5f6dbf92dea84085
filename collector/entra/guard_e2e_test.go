package entra_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/internal/imitation/graph"
	"github.com/scim-stream/scim-stream/wire"
)

// The mass-change guard on the Entra side, through the imitation Graph and the real broker, with the
// documentation example's guard defaults (more than 10 % and more than 20 users): 30 of the tenant's users
// disabled at once are held while a title change flows, and restoring them ends the hold with no deactivation;
// 30 users purged at once are held, and a release publishes the 30 deletions exactly once.
func TestEntraMassChangeHeldAndReleased(t *testing.T) {
	var mass []string
	w := newWorld(t, func(co *graph.Company) {
		for i := range 30 {
			nick := fmt.Sprintf("mass.user%02d", i)
			mass = append(mass, co.AddUser(co.Admin, map[string]any{"userPrincipalName": nick + "@mycompany.com", "mail": nick + "@mycompany.com",
				"displayName": "Mass " + nick, "givenName": "Mass", "surname": nick, "jobTitle": "Engineer", "department": "Operations"}))
		}
	}, nil)
	w.collect()
	w.drain()
	users := len(w.co.UserIDs())
	if 30*10 <= users { // the test needs 30 to be more than 10 %
		t.Fatalf("%d users: 30 is not above 10 %%", users)
	}

	leavers := func(got map[string][]msg) (deactivated, deleted map[string]int) {
		deactivated, deleted = map[string]int{}, map[string]int{}
		for _, m := range got["APP5"] {
			switch {
			case m.ActivityOperation == wire.DeleteUser:
				deleted[m.TargetID]++
			case m.User["active"] == false:
				deactivated[m.TargetID]++
			}
		}
		return
	}

	// Disabled (soft-deleted) at once: held, while Eva's title change is published.
	for _, id := range mass {
		must(t, w.co.DeleteUser(w.co.Admin, id))
	}
	must(t, w.co.UpdateUser(w.co.Admin, w.co.Users["eva.schmidt"], map[string]any{"jobTitle": "Principal Consultant"}))
	got := map[string][]msg{}
	held := 0
	for range 3 {
		st := w.collect()
		held = max(held, st.Held)
		for ch, ms := range w.drain() {
			got[ch] = append(got[ch], ms...)
		}
	}
	if d, del := leavers(got); len(d)+len(del) != 0 || held != 30 {
		t.Fatalf("while held: %d deactivated, %d deleted, held %d (want 0, 0, 30)", len(d), len(del), held)
	}
	if m := find(t, got, "APP5", "eva.schmidt"); m.User["title"] != "Principal Consultant" {
		t.Fatalf("the ordinary change did not flow: %+v", m.User)
	}
	if h, _, err := w.p.State.ReadHold(w.ctx); err != nil || h == nil || h.Leavers != 30 {
		t.Fatalf("hold record: %+v %v", h, err)
	}

	// The source is fixed (the users restored): the hold ends by itself, nobody is deactivated.
	for _, id := range mass {
		must(t, w.co.RestoreUser(w.co.Admin, id))
	}
	got = map[string][]msg{}
	for range 2 {
		if st := w.collect(); st.Held != 0 {
			t.Fatalf("restored: still held %d", st.Held)
		}
		for ch, ms := range w.drain() {
			got[ch] = append(got[ch], ms...)
		}
	}
	if d, del := leavers(got); len(d)+len(del) != 0 {
		t.Fatalf("after the fix: %d deactivated, %d deleted", len(d), len(del))
	}
	if h, _, err := w.p.State.ReadHold(w.ctx); err != nil || h != nil {
		t.Fatalf("the hold must have ended: %+v %v", h, err)
	}

	// Purged at once: held; released: 30 deletions, each exactly once.
	for _, id := range mass {
		must(t, w.co.PurgeUser(w.co.Admin, id))
	}
	if st := w.collect(); st.Held != 30 {
		t.Fatalf("purge: held %d, want 30", st.Held)
	}
	if d, del := leavers(w.drain()); len(d)+len(del) != 0 {
		t.Fatalf("purge while held: %d deactivated, %d deleted", len(d), len(del))
	}
	if _, err := w.p.State.ReleaseHold(w.ctx, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	got = map[string][]msg{}
	for range 3 {
		w.collect()
		for ch, ms := range w.drain() {
			got[ch] = append(got[ch], ms...)
		}
	}
	_, del := leavers(got)
	for _, id := range mass {
		if del[id] != 1 {
			t.Errorf("user %s deleted %d times after the release, want once", id, del[id])
		}
	}
	if len(del) != 30 {
		t.Fatalf("%d users deleted after the release, want the 30", len(del))
	}
}
