package scim

import (
	"encoding/json"
	"errors"
	"testing"
)

func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("test JSON %s: %v", s, err)
	}
	return v
}

func TestApplyPatch(t *testing.T) {
	base := `{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
		"id": "u1", "userName": "bjensen", "active": true,
		"name": {"givenName": "Barbara", "familyName": "Jensen"},
		"emails": [{"value": "b@work.com", "type": "work", "primary": true}, {"value": "b@home.org", "type": "home"}],
		"members": [{"value": "a"}, {"value": "b"}, {"value": "c"}],
		"nicknames": ["Babs"]
	}`
	cases := []struct {
		name string
		ops  string // Operations array
		want string // whole expected resource, compared with Equal
	}{
		{"rfc replace simple", `[{"op":"replace","path":"userName","value":"barbara"}]`,
			`{"userName":"barbara"}`},
		{"rfc add sub-attribute", `[{"op":"add","path":"name.middleName","value":"Jane"}]`,
			`{"name":{"givenName":"Barbara","familyName":"Jensen","middleName":"Jane"}}`},
		{"rfc replace complex merges sub-attributes", `[{"op":"replace","path":"name","value":{"givenName":"Babs"}}]`,
			`{"name":{"givenName":"Babs","familyName":"Jensen"}}`},
		{"rfc add to multi-valued appends", `[{"op":"add","path":"members","value":[{"value":"d"},{"value":"a"}]}]`,
			`{"members":[{"value":"a"},{"value":"b"},{"value":"c"},{"value":"d"}]}`},
		{"rfc add keeps an e-mail of another type with the same address", `[{"op":"add","path":"emails","value":[{"value":"b@work.com","type":"home"},{"value":"b@work.com","type":"work"}]}]`,
			`{"emails":[{"value":"b@work.com","type":"work","primary":true},{"value":"b@home.org","type":"home"},{"value":"b@work.com","type":"home"}]}`},
		{"rfc replace multi-valued replaces all", `[{"op":"replace","path":"members","value":[{"value":"z"}]}]`,
			`{"members":[{"value":"z"}]}`},
		{"rfc remove with value filter", `[{"op":"remove","path":"members[value eq \"b\"]"}]`,
			`{"members":[{"value":"a"},{"value":"c"}]}`},
		{"rfc remove whole attribute", `[{"op":"remove","path":"emails"}]`,
			`{"emails":null}`},
		{"rfc remove last member drops the attribute", `[{"op":"remove","path":"members[value eq \"a\" or value eq \"b\" or value eq \"c\"]"}]`,
			`{"members":null}`},
		{"rfc replace value path sub-attribute", `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@work.com"}]`,
			`{"emails":[{"value":"new@work.com","type":"work","primary":true},{"value":"b@home.org","type":"home"}]}`},
		{"rfc remove value path sub-attribute", `[{"op":"remove","path":"emails[type eq \"work\"].primary"}]`,
			`{"emails":[{"value":"b@work.com","type":"work"},{"value":"b@home.org","type":"home"}]}`},
		{"rfc replace value path element merges", `[{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"x@home.org"}}]`,
			`{"emails":[{"value":"b@work.com","type":"work","primary":true},{"value":"x@home.org","type":"home"}]}`},
		{"rfc add without path", `[{"op":"add","value":{"title":"Guide","nicknames":["BJ"]}}]`,
			`{"title":"Guide","nicknames":["Babs","BJ"]}`},
		{"rfc extension attribute adds the schema", `[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"701984"}]`,
			`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984"},
			  "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}`},
		{"rfc attribute names are case-insensitive", `[{"op":"replace","path":"NAME.GIVENNAME","value":"B"}]`,
			`{"name":{"givenName":"B","familyName":"Jensen"}}`},
		{"rfc remove of absent value is idempotent", `[{"op":"remove","path":"members[value eq \"nobody\"]"},{"op":"remove","path":"title"}]`,
			`{}`},
		{"ops apply in order", `[{"op":"add","path":"title","value":"a"},{"op":"replace","path":"title","value":"b"}]`,
			`{"title":"b"}`},

		// Entra provisioning dialect (Microsoft's SCIM compatibility notes).
		{"entra capitalised ops and False string", `[{"op":"Replace","path":"active","value":"False"}]`,
			`{"active":false}`},
		{"entra False string inside a path-less value object", `[{"op":"Replace","value":{"active":"False"}}]`,
			`{"active":false}`},
		{"entra True string", `[{"op":"Add","path":"active","value":"True"}]`,
			`{"active":true}`},
		{"entra members removal with a value array", `[{"op":"Remove","path":"members","value":[{"value":"b"},{"value":"c"}]}]`,
			`{"members":[{"value":"a"}]}`},
		{"entra members add with a value array", `[{"op":"Add","path":"members","value":[{"value":"d"}]}]`,
			`{"members":[{"value":"a"},{"value":"b"},{"value":"c"},{"value":"d"}]}`},
		{"entra dotted keys in value objects", `[{"op":"Add","value":{"name.givenName":"Babs","name.familyName":"J","displayName":"Babs J"}}]`,
			`{"name":{"givenName":"Babs","familyName":"J"},"displayName":"Babs J"}`},
		{"entra value-path keys in value objects", `[{"op":"Replace","value":{"emails[type eq \"work\"].value":"w@x.com"}}]`,
			`{"emails":[{"value":"w@x.com","type":"work","primary":true},{"value":"b@home.org","type":"home"}]}`},
		{"entra URN-qualified keys in value objects", `[{"op":"Add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Tours"}}]`,
			`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Tours"},
			  "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}`},
		{"entra extension object in value objects", `[{"op":"Replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"costCenter":"42"}}}]`,
			`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"costCenter":"42"},
			  "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}`},
		{"entra manager as a bare string", `[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m1"}]`,
			`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}},
			  "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}`},
		{"entra add on a value path that matches nothing creates the element", `[{"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Oslo"}]`,
			`{"addresses":[{"type":"work","locality":"Oslo"}]}`},
		{"entra replace on a value path that matches nothing creates the element", `[{"op":"Replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+47 1"}]`,
			`{"phoneNumbers":[{"type":"mobile","value":"+47 1"}]}`},
		{"entra primary False inside array values", `[{"op":"Add","path":"roles","value":[{"primary":"False","value":"r1"}]}]`,
			`{"roles":[{"primary":false,"value":"r1"}]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := decodeJSON(t, base).(map[string]any)
			orig := CloneValue(res)
			var ops []Operation
			if err := json.Unmarshal([]byte(c.ops), &ops); err != nil {
				t.Fatal(err)
			}
			got, err := ApplyPatch(res, ops)
			if err != nil {
				t.Fatalf("ApplyPatch: %v", err)
			}
			if !Equal(res, orig) {
				t.Fatal("ApplyPatch changed its input")
			}
			// want lists the attributes that change; a null means removed; the rest is the base.
			want := CloneValue(orig).(map[string]any)
			for k, v := range decodeJSON(t, c.want).(map[string]any) {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = v
				}
			}
			if !Equal(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Fatalf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func TestApplyPatchErrors(t *testing.T) {
	res := map[string]any{"id": "u1", "userName": "x", "name": map[string]any{"givenName": "a"}, "title": "t"}
	cases := []struct {
		ops      string
		scimType string
	}{
		{`[{"op":"move","path":"userName","value":"x"}]`, "invalidSyntax"},
		{`[{"op":"remove"}]`, "noTarget"},
		{`[{"op":"add","value":"not an object"}]`, "invalidValue"},
		{`[{"op":"replace","path":"userName"}]`, "invalidValue"},
		{`[{"op":"replace","path":"user name","value":"x"}]`, "invalidPath"},
		{`[{"op":"replace","path":"emails[type eq ","value":"x"}]`, "invalidPath"},
		{`[{"op":"replace","path":"emails[type eq \"work\"] junk","value":"x"}]`, "invalidPath"},
		{`[{"op":"replace","path":"id","value":"other"}]`, "mutability"},
		{`[{"op":"remove","path":"meta"}]`, "mutability"},
		{`[{"op":"replace","path":"title.sub","value":"x"}]`, "invalidPath"},
		{`[{"op":"add","path":"emails[type eq \"work\" or type eq \"home\"].value","value":"x"}]`, "noTarget"},
		{`[{"op":"add","path":"title","value":"ok"},{"op":"bogus"}]`, "invalidSyntax"},
	}
	for _, c := range cases {
		var ops []Operation
		if err := json.Unmarshal([]byte(c.ops), &ops); err != nil {
			t.Fatal(err)
		}
		_, err := ApplyPatch(res, ops)
		var pe *PatchError
		if !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a *PatchError", c.ops, err)
			continue
		}
		if pe.ScimType != c.scimType {
			t.Errorf("%s: scimType = %q, want %q (%v)", c.ops, pe.ScimType, c.scimType, err)
		}
	}
	if res["title"] != "t" {
		t.Fatal("a failed PATCH changed the resource")
	}
}

func TestParsePatchRequest(t *testing.T) {
	ops, err := ParsePatchRequest([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"Replace","path":"active","value":"False"},{"OP":"add","value":{"title":"x"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Op != "Replace" || ops[0].Path != "active" || ops[0].Value != "False" || ops[1].Op != "add" {
		t.Fatalf("ops = %+v", ops)
	}
	for _, bad := range []string{`{`, `[]`, `{"schemas":[]}`, `{"Operations":{}}`, `{"Operations":[{"op":1}]}`} {
		if _, err := ParsePatchRequest([]byte(bad)); err == nil {
			t.Errorf("ParsePatchRequest(%s) accepted", bad)
		}
	}
}

func FuzzApplyPatch(f *testing.F) {
	f.Add(`[{"op":"replace","path":"emails[type eq \"work\"].value","value":"x"}]`)
	f.Add(`[{"op":"Remove","path":"members","value":[{"value":"a"}]}]`)
	f.Add(`[{"op":"Add","value":{"name.givenName":"x","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"a":1}}}]`)
	f.Add(`[{"op":"add","path":"x[value eq 1]","value":{"value":1}}]`)
	base := testUser(f)
	f.Fuzz(func(t *testing.T, opsJSON string) {
		var ops []Operation
		if json.Unmarshal([]byte(opsJSON), &ops) != nil {
			return
		}
		before := CloneValue(base)
		out, err := ApplyPatch(base, ops)
		if !Equal(base, before) {
			t.Fatal("ApplyPatch changed its input")
		}
		if err != nil {
			var pe *PatchError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PatchError: %v", err, err)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("result is not JSON: %v", err)
		}
		// Applying the same operations again from the result never fails for a reason other than PATCH rules.
		if _, err := ApplyPatch(out, ops); err != nil {
			var pe *PatchError
			if !errors.As(err, &pe) {
				t.Fatalf("second apply: %T %v", err, err)
			}
		}
	})
}

func TestCoerceBooleans(t *testing.T) {
	u := decodeJSON(t, `{"active":"True","emails":[{"value":"a","primary":"false"}],"title":"True","x":{"active":"FALSE"}}`).(map[string]any)
	CoerceBooleans(u)
	want := decodeJSON(t, `{"active":true,"emails":[{"value":"a","primary":false}],"title":"True","x":{"active":false}}`)
	if !Equal(u, want) {
		t.Fatalf("got %v", u)
	}
}
