package scim

import (
	"encoding/json"
	"sort"
	"testing"
)

func TestProjection(t *testing.T) {
	u := testUser(t)
	cases := []struct {
		attrs, excluded string
		want            string
	}{
		{"userName,name.givenName", "", `{"id":"2819c223-7f76-453a-919d-413861904646","schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":"bjensen@example.com","name":{"givenName":"Barbara"}}`},
		{"EMAILS.value,emails.type,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "", `{"id":"2819c223-7f76-453a-919d-413861904646","schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@jensen.org","type":"home"}],
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Tour Operations"}}`},
		{`emails[type eq "work"]`, "", `{"id":"2819c223-7f76-453a-919d-413861904646","schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]}`},
		{`userName,emails[type eq "home" or value co "x,y"].value`, "", `{"id":"2819c223-7f76-453a-919d-413861904646","schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"userName":"bjensen@example.com","emails":[{"value":"babs@jensen.org"}]}`},
		{"noSuchAttribute", "", `{"id":"2819c223-7f76-453a-919d-413861904646","schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}`},
	}
	for _, c := range cases {
		p, err := ParseProjection(c.attrs, c.excluded)
		if err != nil {
			t.Fatal(err)
		}
		got := p.Apply(u)
		if !Equal(got, decodeJSON(t, c.want)) {
			b, _ := json.Marshal(got)
			t.Errorf("attributes=%s: got %s", c.attrs, b)
		}
	}
	p, err := ParseProjection("", "emails,name.familyName,id,meta")
	if err != nil {
		t.Fatal(err)
	}
	got := p.Apply(u)
	if got["emails"] != nil || got["meta"] != nil || got["id"] == nil || got["name"].(map[string]any)["familyName"] != nil || got["name"].(map[string]any)["givenName"] != "Barbara" {
		t.Errorf("excludedAttributes: got %v", got)
	}
	if u["emails"] == nil || u["name"].(map[string]any)["familyName"] == nil {
		t.Error("Apply changed its input")
	}
	p, err = ParseProjection("", `emails[type eq "home"]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Apply(u)["emails"].([]any); len(got) != 1 || got[0].(map[string]any)["type"] != "work" {
		t.Errorf("excluded value filter: %v", got)
	}
	if _, err := ParseProjection(`emails[type eq`, ""); err == nil {
		t.Error("malformed value filter accepted")
	}
	if _, err := ParseProjection("user name", ""); err == nil {
		t.Error("malformed attribute accepted")
	}
}

func TestSortKeys(t *testing.T) {
	users := []map[string]any{
		{"userName": "b", "name": map[string]any{"familyName": "Zed"}, "emails": []any{map[string]any{"value": "z@x"}, map[string]any{"value": "a@x", "primary": true}}},
		{"userName": "a", "name": map[string]any{"familyName": "alpha"}, "emails": []any{map[string]any{"value": "m@x"}}},
		{"userName": "c"},
	}
	order := func(attr string) string {
		s := append([]map[string]any(nil), users...)
		sort.SliceStable(s, func(i, j int) bool { return CompareSortKeys(SortKey(s[i], attr), SortKey(s[j], attr)) < 0 })
		out := ""
		for _, u := range s {
			out += u["userName"].(string)
		}
		return out
	}
	for attr, want := range map[string]string{"userName": "abc", "name.familyName": "abc", "emails": "bac", "emails.value": "bac", "title": "bac"} {
		if got := order(attr); got != want {
			t.Errorf("sortBy=%s: order %s, want %s", attr, got, want)
		}
	}
}

func TestEqualityTest(t *testing.T) {
	if a, v, ok := MustParseFilter(`UserName eq "bjensen"`).EqualityTest(); !ok || a != "UserName" || v != "bjensen" {
		t.Errorf("EqualityTest = %q %q %v", a, v, ok)
	}
	for _, f := range []string{`userName ne "x"`, `userName eq "x" and a pr`, `name.givenName eq "x"`, `loginCount eq 1`} {
		if _, _, ok := MustParseFilter(f).EqualityTest(); ok {
			t.Errorf("%s: EqualityTest ok", f)
		}
	}
}
