package rules

import (
	"encoding/json"
	"testing"

	"github.com/scim-stream/scim-stream/scim"
)

// user decodes a JSON user, so values have the types a decoded message has.
func user(t testing.TB, s string) scim.User {
	t.Helper()
	var u scim.User
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		t.Fatalf("test user %s: %v", s, err)
	}
	return u
}

func mustFilter(t testing.TB, s string) *Filter {
	t.Helper()
	f, err := CompileFilter(s)
	if err != nil {
		t.Fatalf("CompileFilter(%q): %v", s, err)
	}
	return f
}
