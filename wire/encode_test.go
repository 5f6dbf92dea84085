package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

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

// AppendJSON gives exactly json.Marshal's bytes, so message ids and bodies do not depend on the encoder.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	for _, v := range jsonCorpus() {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendJSON([]byte("prefix"), v)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%#v:\n got %s (%v)\nwant prefix%s", v, got, err, want)
		}
	}
	for _, v := range []any{math.NaN(), math.Inf(1), []any{math.Inf(-1)}} {
		if _, err := AppendJSON(nil, v); err == nil {
			t.Errorf("%v: no error, encoding/json has one", v)
		}
	}
}

func TestAppendMessageIsEncodingJSON(t *testing.T) {
	if !messageLayout {
		t.Fatal("Message or scim.Operation changed: update AppendMessage and messageLayout")
	}
	user := scim.User{"userName": "a<b>@x", "title": "R&D"}
	for _, m := range []Message{
		{ActivityOperation: CreateUser, Operations: []scim.Operation{}, User: user},
		{ActivityOperation: ModifyUser, ActivityDateTime: "2026-06-01T08:00:00.123Z", InitiatedByID: "i",
			InitiatedByUPN: "admin@x", TargetID: "t\"1", TargetUPN: "u", User: user,
			Operations: []scim.Operation{{Op: "replace", Path: "title", Value: "R&D"}, {Op: "remove", Path: "groups"},
				{Op: "add", Path: "emails", Value: []any{map[string]any{"value": "x"}}}, {Op: "add", Path: "x", Value: map[string]any(nil)}}},
		{ActivityOperation: DeleteUser},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, at, err := AppendMessage([]byte("prefix"), &m, nil)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("got  %s (%v)\nwant %s", got, err, want)
		}
		u, _ := AppendJSON(nil, m.User)
		if !bytes.Equal(got[at:len(got)-1], u) {
			t.Errorf("the user is not at %d: %s", at, got[at:])
		}
		if got, _, _ := AppendMessage(nil, &m, u); !bytes.Equal(got, want) {
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
		got, err := AppendJSON(nil, v)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got  %s (%v)\nwant %s", got, err, want)
		}
	})
}

// BenchmarkAppendMessage encodes a message with the corpus's SCIM user, interleaved in every iteration with
// json.Marshal of the same message, and reports append/marshal: the ratio stays meaningful on a shared machine.
func BenchmarkAppendMessage(b *testing.B) {
	var user scim.User
	for _, v := range jsonCorpus() {
		if u, ok := v.(scim.User); ok && u != nil {
			user = u
		}
	}
	m := &Message{ActivityOperation: ModifyUser, ActivityDateTime: "2026-06-01T08:00:00.123Z", TargetID: "t1",
		Operations: []scim.Operation{{Op: "replace", Path: "title", Value: "R&D"}}, User: user}
	b.ReportAllocs()
	var tAppend, tMarshal time.Duration
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		t0 := time.Now()
		out, _, err := AppendMessage(buf[:0], m, nil)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		want, err := json.Marshal(m)
		if err != nil || len(want) != len(out) {
			b.Fatalf("lengths %d and %d (%v)", len(out), len(want), err)
		}
		tAppend += t1.Sub(t0)
		tMarshal += time.Since(t1)
	}
	b.ReportMetric(float64(tAppend)/float64(b.N), "append-ns")
	b.ReportMetric(float64(tMarshal)/float64(b.N), "marshal-ns")
	b.ReportMetric(float64(tAppend)/float64(tMarshal), "append/marshal")
}
