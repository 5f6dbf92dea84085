package wire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/scim"
)

// TestMessageWireOrder: the envelope marshals in the documentation's field order, and a group added in Entra
// gives the documentation's Operations entry.
func TestMessageWireOrder(t *testing.T) {
	old := scim.User{"userName": "john.smith@mycompany.com", "groups": []any{map[string]any{"display": "Admins", "value": "Admins"}}}
	new := old.Clone()
	new["groups"] = append(new["groups"].([]any), map[string]any{"display": "Employees", "value": "Employees"})
	msg := Message{
		ActivityOperation: ModifyUser,
		ActivityDateTime:  "2022-07-01T10:27:55.403989Z",
		InitiatedByID:     "2b47d2fd-a98e-4051-b053-93d2da7f834e",
		InitiatedByUPN:    "admin@mycompany.com",
		TargetID:          "da33c8bd-4511-5058-b79e-7a45938b1b08",
		TargetUPN:         "john.smith@mycompany.com",
		Operations:        scim.Diff(old, new),
		User:              new,
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"activityOperation":"modifyUser","activityDateTime":"2022-07-01T10:27:55.403989Z",` +
		`"initiatedById":"2b47d2fd-a98e-4051-b053-93d2da7f834e","initiatedByUpn":"admin@mycompany.com",` +
		`"targetId":"da33c8bd-4511-5058-b79e-7a45938b1b08","targetUpn":"john.smith@mycompany.com",` +
		`"Operations":[{"op":"add","value":[{"display":"Employees","value":"Employees"}],"path":"groups"}],` +
		`"user":{"groups":[{"display":"Admins","value":"Admins"},{"display":"Employees","value":"Employees"}],"userName":"john.smith@mycompany.com"}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	// A remove without value keeps "path" and drops "value"; no change gives an empty array, not null.
	b, _ = json.Marshal(Message{ActivityOperation: ModifyUser, Operations: scim.Diff(scim.User{"title": "x"}, scim.User{}), User: scim.User{}})
	if !strings.Contains(string(b), `"Operations":[{"op":"remove","path":"title"}]`) {
		t.Fatalf("remove: %s", b)
	}
	ops := scim.Diff(old, old.Clone())
	b, _ = json.Marshal(Message{ActivityOperation: ModifyUser, Operations: ops, User: old})
	if !strings.Contains(string(b), `"Operations":[]`) {
		t.Fatalf("no change: %s", b)
	}
}

// Decode accepts a message with a user and a userName and names what is missing otherwise.
func TestDecode(t *testing.T) {
	m, name, err := Decode([]byte(`{"activityOperation":"createUser","Operations":[],"user":{"userName":"ada@x"}}`))
	if err != nil || name != "ada@x" || m.ActivityOperation != CreateUser {
		t.Fatalf("Decode = %+v, %q, %v", m, name, err)
	}
	for body, want := range map[string]string{
		`not json`:                                          "body is not a SCIM Stream message (JSON)",
		`{"activityOperation":"createUser"}`:                "message has no user object",
		`{"user":{"displayName":"Ada"}}`:                    "message user has no userName",
		`{"user":{"userName":"  "}}`:                        "message user has no userName",
		`{"user":{"userName":42}}`:                          "message user has no userName",
		`{"activityOperation":"deleteUser","user":"ada@x"}`: "body is not a SCIM Stream message (JSON)",
	} {
		if _, _, err := Decode([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want %q", body, err, want)
		}
	}
}
