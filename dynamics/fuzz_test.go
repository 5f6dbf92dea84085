package dynamics

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
)

// FuzzApplyRevert: for any source user, Revert(Apply(user)) is the user again (revocation removes exactly what
// the dynamics added), Apply is idempotent on its own output, and the state survives JSON.
func FuzzApplyRevert(f *testing.F) {
	s, err := Compile([]config.Dynamic{
		{DynamicID: "d1", Rules: []config.Filter{{Filter: `(user.title -match ".*Consultant.*")`}}, Assignments: []config.Assignment{
			{Path: "user.groups", Value: []any{map[string]any{"display": "Grp1-name", "value": "Grp1-id"}}},
			{Path: "user.roles", Value: []any{map[string]any{"type": "App1", "value": "Admin", "display": "Admin access"}}},
			{Path: "user.addresses", Value: []any{map[string]any{"type": "work", "postalCode": 1234}}},
			{Path: "user.emails", Value: []any{"plain"}},
			{Path: "user.type", Value: "External"},
			{Path: "user.name.givenName", Value: "Dyn"},
		}},
		{DynamicID: "d2", Rules: []config.Filter{{Filter: `(user.dynamicIds -match "d1")`}, {Filter: `(user.groups.display -match "G.*")`}}, Assignments: []config.Assignment{
			{Path: "user.type", Value: "Chained"},
			{Path: "user.groups", Value: []any{map[string]any{"display": "Grp2", "value": "Grp1-id"}, map[string]any{"value": "Grp3"}}},
		}},
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{"title":"Consultant"}`,
		`{"title":"Consultant","type":"Internal","name":{"givenName":"J"},"groups":[{"value":"Grp1-id","display":"src"}],"addresses":[{"type":"work","postalCode":"1"},{"type":"work"}]}`,
		`{"title":"Consultant","groups":"oops","roles":[{"type":"app1","value":"Admin"}],"emails":["plain","x"],"name":"flat"}`,
		`{"title":"x","groups":[{"display":"Gx"}]}`,
		`{"title":"Consultant","addresses":{"type":"work"},"type":null}`,
		`{"title":"Consultant","tYpe":"0","nAme":{},"Addresses":[{"type":"home"},{"type":"WORK","x":1}]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var src scim.User
		if json.Unmarshal([]byte(data), &src) != nil || src == nil {
			return
		}
		if _, ok := src[IDsAttribute]; ok {
			return // only Apply writes dynamicIds
		}
		if foldDup(map[string]any(src)) {
			return // "A" and "a" are one SCIM attribute: not a user a mapper produces
		}
		orig, _ := json.Marshal(src)
		out, applied := s.Apply(src, Applied{})
		if again, _ := json.Marshal(src); string(again) != string(orig) {
			t.Fatalf("Apply modified its input: %s -> %s", orig, again)
		}
		b, err := json.Marshal(applied)
		if err != nil {
			t.Fatal(err)
		}
		var stored Applied
		if err := json.Unmarshal(b, &stored); err != nil {
			t.Fatal(err)
		}
		// null and {} count as absent (as in scim.Diff): a null the dynamic overwrote comes back as absent, and a
		// complex attribute the dynamic filled is removed whole when it becomes empty again.
		if back := Revert(out, stored); !sameUser(back, src) {
			o, _ := json.Marshal(out)
			r, _ := json.Marshal(back)
			t.Fatalf("Revert(Apply(u)) != u\nsource  %s\napplied %s\nstate   %s\nreverted %s", orig, o, b, r)
		}
		out2, applied2 := s.Apply(out, stored)
		b2, _ := json.Marshal(applied2)
		if !sameUser(out2, out) || string(b2) != string(b) {
			o, _ := json.Marshal(out)
			o2, _ := json.Marshal(out2)
			t.Fatalf("Apply is not idempotent on a stored user\nfirst  %s %s\nsecond %s %s", o, b, o2, b2)
		}
	})
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if d := dropNulls(e); d != nil {
				out[strings.ToLower(k)] = d // attribute names are case-insensitive
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = dropNulls(e)
		}
		return out
	}
	return v
}

// sameUser compares users as SCIM does: null and {} as absent, attribute names case-insensitive.
func sameUser(a, b scim.User) bool {
	x, _ := dropNulls(map[string]any(a)).(map[string]any)
	y, _ := dropNulls(map[string]any(b)).(map[string]any)
	if x == nil {
		x = map[string]any{}
	}
	if y == nil {
		y = map[string]any{}
	}
	return scim.Equal(x, y)
}

func foldDup(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		seen := map[string]bool{}
		for k, e := range x {
			if seen[strings.ToLower(k)] || foldDup(e) {
				return true
			}
			seen[strings.ToLower(k)] = true
		}
	case []any:
		for _, e := range x {
			if foldDup(e) {
				return true
			}
		}
	}
	return false
}
