package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

func TestUserStateJSONIsEncodingJSON(t *testing.T) {
	for _, us := range []UserState{
		{Key: "emp 1/ø", User: scim.User{"userName": "a@b", "active": true}},
		{Key: "k", User: scim.User{"groups": []any{}}, Dynamics: json.RawMessage(`{"ids":["dyn-managers"]}`), Gone: true, Revision: 9},
		{},
	} {
		want, err := json.Marshal(&us)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := us.appendJSON(nil); err != nil || !bytes.Equal(got, want) {
			t.Errorf("got  %s (%v)\nwant %s", got, err, want)
		}
	}
}

// Message ids are those of json.Marshal'd views, whatever encoder made them: a collection repeated after an
// upgrade still finds its earlier messages de-duplicated.
func TestMessageIDsHashJSONMarshal(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := entraTenant(t)
	src := &listSource{typ: wire.Entra}
	src.set(entraUser("u1", "ada@example.com", "Senior Consultant <R&D>", "App1_Users", "Sales"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	us, err := bus.state.User(ctx, "u1")
	if err != nil || us == nil {
		t.Fatalf("state: %v %v", us, err)
	}
	src.set(Record{ID: "u1", Removed: true})
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs := bus.messages(t, 0)
	if len(msgs) != 4 {
		t.Fatalf("want 2 creates and 2 deletes, got %d messages", len(msgs))
	}
	null, _ := json.Marshal(nil)
	for _, m := range msgs {
		user, err := json.Marshal(m.User)
		if err != nil {
			t.Fatal(err)
		}
		channel := strings.TrimPrefix(m.Subject, "ENTRA.")
		want := messageID(ten, channel, "u1", m.ActivityOperation, 0, "", null, user)
		if m.ActivityOperation == wire.DeleteUser {
			want = messageID(ten, channel, "u1", m.ActivityOperation, us.Revision, "", user, null)
		}
		if m.MsgID != want {
			t.Errorf("%s %s: Msg-Id %s, want %s", m.Subject, m.ActivityOperation, m.MsgID, want)
		}
	}
}
