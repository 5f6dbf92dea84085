package gateway_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// TestFailingMessageInABatchHoldsOnlyItsUser: the store applies a pull in one transaction. One user whose
// record cannot be read (a failure that is retried, not terminated) sits in the middle of a pull of 40
// messages: every other user is created and acknowledged at once, in the first attempt, while the failing
// user's two messages wait, in order, and are applied once the record is readable again.
func TestFailingMessageInABatchHoldsOnlyItsUser(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// The stuck user exists with a record that is not JSON: every lookup of it fails (as unavailable).
	st, err := store.Open(filepath.Join(w.dir, "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := st.CreateUser(ctx, scim.User(person("stuck@acme.com")))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	setRecord(t, w.dir, idOf(stuck), []byte("{not json"))

	for i := range 40 {
		switch i {
		case 10:
			w.publish("ENTRA.APP1", "stuck-1", msg(wire.ModifyUser, person("stuck@acme.com", "title", "First")))
		case 25:
			w.publish("ENTRA.APP1", "stuck-2", msg(wire.ModifyUser, person("stuck@acme.com", "title", "Second")))
		default:
			u := person(fmt.Sprintf("u%02d@acme.com", i), "groups", []any{group(fmt.Sprintf("G%d", i%3))})
			w.publish("ENTRA.APP1", fmt.Sprintf("u-%d", i), msg(wire.CreateUser, u))
		}
	}
	cfg := w.config("gw", false, map[string]gateway.Entity{"app1": w.entity("gw", "app1", "ENTRA.APP1")})
	// A long back-off: the others must not wait for it.
	r := w.startRetry(cfg, nil, 3*time.Second, 3*time.Second)
	evs := r.waitEvents(t, 39) // 38 creates and the stuck user's first failure
	created, retrying := 0, 0
	for _, e := range evs[:39] {
		switch {
		case e.Action == gateway.ActionCreated:
			created++
		case e.Action == gateway.ActionRetrying && e.MsgID == "stuck-1":
			retrying++
		default:
			t.Errorf("event %s %s (%v) before the stuck user's retry", e.MsgID, e.Action, e.Err)
		}
	}
	if created != 38 || retrying != 1 {
		t.Fatalf("%d created and %d retrying among the first events, want 38 and 1:\n%s", created, retrying, r.log)
	}
	for i := range 40 {
		if i != 10 && i != 25 {
			if g := groupNames(r.user(t, fmt.Sprintf("u%02d@acme.com", i))); len(g) != 1 || g[0] != fmt.Sprintf("G%d", i%3) {
				t.Errorf("u%02d: groups %v", i, g)
			}
		}
	}
	gs, err := r.st.ListGroups(ctx, "")
	if err != nil || len(gs) != 3 {
		t.Fatalf("%d groups (%v), want 3: a group of a rolled-back transaction was kept or made twice", len(gs), err)
	}

	// The record is repaired: the stuck user's messages follow, the second after the first.
	if err := r.st.Suspend(); err != nil {
		t.Fatal(err)
	}
	repaired := fmt.Sprintf(`{"id":%q,"userName":"stuck@acme.com","title":"Broken"}`, idOf(stuck))
	setRecord(t, w.dir, idOf(stuck), []byte(repaired))
	if err := r.st.Resume(); err != nil {
		t.Fatal(err)
	}
	var order []string
	deadline := time.Now().Add(30 * time.Second)
	for len(order) < 2 && time.Now().Before(deadline) {
		order = order[:0]
		for _, e := range r.eventList() {
			if e.Action == gateway.ActionReplaced && (e.MsgID == "stuck-1" || e.MsgID == "stuck-2") {
				order = append(order, e.MsgID)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(order) != 2 || order[0] != "stuck-1" {
		t.Fatalf("stuck user's messages applied as %v, want stuck-1 then stuck-2:\n%s", order, r.log)
	}
	if got := r.user(t, "stuck@acme.com"); got["title"] != "Second" {
		t.Fatalf("title %v, want Second (the later message last)", got["title"])
	}
}

// setRecord overwrites a user's stored record in the gateway's store file (closed or suspended).
func setRecord(t *testing.T, dir, id string, value []byte) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "gw.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("users")).Put([]byte(id), value) }); err != nil {
		t.Fatal(err)
	}
}

func idOf(u map[string]any) string { s, _ := u["id"].(string); return s }
