package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/scim"
)

func jsonCorpus() []any {
	return []any{
		nil, "", "plain", `quote " backslash \ slash /`, "<script>&amp;</script>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"Åse Ødegård ß 漢字 🙂", "line\u2028para\u2029", "bad \xff utf-8 \xc3", true, false,
		0.0, math.Copysign(0, -1), 1.0, -1.5, 1e20, 1e21, 123456789012345680000.0, 1e-6, 1e-7, 3.14159e-12, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 42, int64(-7),
		[]any(nil), []any{}, []any{1.0, "a", nil, []any{map[string]any{}}},
		map[string]any(nil), map[string]any{}, scim.User(nil),
		map[string]any{"b": 1.0, "a": "x", "A": nil, "é": true, "<k>": []any{"&"}, "": 0.5, "\xff": "bad key"},
		scim.User{"userName": "ada@example.com", "name": map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
			"emails":   []any{map[string]any{"type": "work", "value": "ada@example.com", "primary": true}},
			"groups":   []any{map[string]any{"display": "Sales_Managers", "value": "Sales_Managers"}},
			"onCreate": map[string]any{"userPrincipalName": "ada01@x"}, "active": false},
		map[string]int{"typed": 1}, []string{"typed", "slice"}, json.Number("12.50"),
	}
}

// appendJSON gives exactly json.Marshal's bytes, so message ids and bodies do not depend on the encoder.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	for _, v := range jsonCorpus() {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSON([]byte("prefix"), v)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%#v:\n got %s (%v)\nwant prefix%s", v, got, err, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), []any{math.Inf(-1)}} {
		if _, err := appendJSON(nil, v); err == nil {
			t.Errorf("%v: no error, encoding/json has one", v)
		}
	}
}

func TestAppendMessageIsEncodingJSON(t *testing.T) {
	if !messageLayout {
		t.Fatal("scim.Message or scim.Operation changed: update appendMessage and messageLayout")
	}
	user := scim.User{"userName": "a<b>@x", "title": "R&D"}
	for _, m := range []scim.Message{
		{ActivityOperation: scim.CreateUser, Operations: []scim.Operation{}, User: user},
		{ActivityOperation: scim.ModifyUser, ActivityDateTime: "2026-06-01T08:00:00.123Z", InitiatedByID: "i",
			InitiatedByUPN: "admin@x", TargetID: "t\"1", TargetUPN: "u", User: user,
			Operations: []scim.Operation{{Op: "replace", Path: "title", Value: "R&D"}, {Op: "remove", Path: "groups"},
				{Op: "add", Path: "emails", Value: []any{map[string]any{"value": "x"}}}, {Op: "add", Path: "x", Value: map[string]any(nil)}}},
		{ActivityOperation: scim.DeleteUser},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, at, err := appendMessage([]byte("prefix"), &m, nil)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("got  %s (%v)\nwant %s", got, err, want)
		}
		u, _ := appendJSON(nil, m.User)
		if !bytes.Equal(got[at:len(got)-1], u) {
			t.Errorf("the user is not at %d: %s", at, got[at:])
		}
		if got, _, _ := appendMessage(nil, &m, u); !bytes.Equal(got, want) {
			t.Errorf("with the user encoded before: got %s\nwant %s", got, want)
		}
	}
}

// FuzzAppendJSON compares with encoding/json on any JSON document (decoded the way sources decode records).
func FuzzAppendJSON(f *testing.F) {
	for _, v := range jsonCorpus() {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSON(nil, v)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got  %s (%v)\nwant %s", got, err, want)
		}
	})
}

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
	src := &listSource{typ: Entra}
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
		if m.ActivityOperation == scim.DeleteUser {
			want = messageID(ten, channel, "u1", m.ActivityOperation, us.Revision, "", user, null)
		}
		if m.MsgID != want {
			t.Errorf("%s %s: Msg-Id %s, want %s", m.Subject, m.ActivityOperation, m.MsgID, want)
		}
	}
}
