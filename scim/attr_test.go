package scim

import (
	"encoding/json"
	"strings"
	"testing"
)

func jsonUser(t testing.TB, s string) User {
	t.Helper()
	var u User
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		t.Fatalf("test JSON %s: %v", s, err)
	}
	return u
}

func TestParsePath(t *testing.T) {
	cases := []struct{ in, canonical, urn string }{
		{"userName", "userName", ""},
		{"name.givenName", "name.givenName", ""},
		{`emails[type eq "work"].value`, `emails[type eq "work"].value`, ""},
		{`addresses[ type  EQ “work” ].postalCode`, `addresses[type eq "work"].postalCode`, ""},
		{`phoneNumbers[primary eq true].value`, `phoneNumbers[primary eq true].value`, ""},
		{EnterpriseUserSchema + ":manager.value", EnterpriseUserSchema + ":manager.value", EnterpriseUserSchema},
		{EnterpriseUserSchema + ".department", EnterpriseUserSchema + ":department", EnterpriseUserSchema},
		{strings.ToLower(EnterpriseUserSchema) + ":department", EnterpriseUserSchema + ":department", EnterpriseUserSchema},
		{CoreUserSchema + ":userName", "userName", ""},
		{"urn:example:custom:1.0:Thing:color", "urn:example:custom:1.0:Thing:color", "urn:example:custom:1.0:Thing"},
		{"onCreate.userPrincipalName", "onCreate.userPrincipalName", ""},
	}
	for _, c := range cases {
		p, err := ParsePath(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if p.String() != c.canonical || p.URN != c.urn {
			t.Errorf("%s: got %q (urn %q), want %q (urn %q)", c.in, p.String(), p.URN, c.canonical, c.urn)
		}
	}
	bad := []struct {
		in  string
		col int
		msg string
	}{
		{"", 1, "expected an attribute name"},
		{"name.", 6, "expected an attribute name"},
		{"name..x", 6, "expected an attribute name"},
		{`emails[type ne "work"]`, 13, `expected "eq"`},
		{`emails[type eq "work"`, 22, "expected ']'"},
		{`emails[type eq "work].value`, 28, "not closed"},
		{`emails[type eq work]`, 16, "expected a quoted string"},
		{"1name", 1, "expected an attribute name"},
		{"na me", 3, "expected '.' or '['"},
		{"urn:x:", 7, "expected an attribute after the schema URN"},
		{"ø", 1, "expected an attribute name"},
	}
	for _, c := range bad {
		_, err := ParsePath(c.in)
		pe, ok := err.(*PathError)
		if !ok {
			t.Errorf("%q: got %v, want a *PathError", c.in, err)
			continue
		}
		if pe.Column != c.col || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("%q: got column %d %q, want column %d containing %q", c.in, pe.Column, pe.Msg, c.col, c.msg)
		}
	}
}

func TestGetSetDelete(t *testing.T) {
	u := User{}
	sets := []struct {
		path string
		v    any
	}{
		{"userName", "john.smith@mycompany.com"},
		{"name.givenName", "John"},
		{"name.familyName", "Smith"},
		{`emails[type eq "work"].value`, "john.smith@mycompany.com"},
		{`emails[type eq "other"].value`, "js@example.org"},
		{`addresses[type eq "work"].postalCode`, "91608"},
		{`addresses[type eq "work"].city`, "Hollywood"},
		{EnterpriseUserSchema + ":manager.value", "barbara@mycompany.com"},
		{EnterpriseUserSchema + ".department", "Tour Operations"},
		{"active", true},
		{"groups", []map[string]string{{"display": "Employees", "value": "Employees"}}},
	}
	for _, s := range sets {
		if err := u.Set(s.path, s.v); err != nil {
			t.Fatalf("Set %s: %v", s.path, err)
		}
	}
	want := jsonUser(t, `{
		"userName": "john.smith@mycompany.com",
		"name": {"givenName": "John", "familyName": "Smith"},
		"emails": [{"type": "work", "value": "john.smith@mycompany.com"}, {"type": "other", "value": "js@example.org"}],
		"addresses": [{"type": "work", "postalCode": "91608", "city": "Hollywood"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "barbara@mycompany.com"}, "department": "Tour Operations"},
		"active": true,
		"groups": [{"display": "Employees", "value": "Employees"}]
	}`)
	if !Equal(u, want) {
		b, _ := json.Marshal(u)
		t.Fatalf("got %s", b)
	}
	gets := map[string]any{
		"username":                           "john.smith@mycompany.com", // attribute names are case-insensitive
		`emails[type eq "WORK"].value`:       "john.smith@mycompany.com",
		`addresses[type eq "work"].city`:     "Hollywood",
		EnterpriseUserSchema + ".department": "Tour Operations",
		EnterpriseUserSchema + ":manager":    map[string]any{"value": "barbara@mycompany.com"},
		"name":                               map[string]any{"givenName": "John", "familyName": "Smith"},
	}
	for p, w := range gets {
		if got, ok := u.Get(p); !ok || !Equal(got, w) {
			t.Errorf("Get %s = %v, %v; want %v", p, got, ok, w)
		}
	}
	for _, p := range []string{"title", `emails[type eq "home"].value`, "name.middleName", "userName.x", "emails.value", "bad path!"} {
		if v, ok := u.Get(p); ok {
			t.Errorf("Get %s = %v, want not found", p, v)
		}
	}
	// Overwrite keeps the existing element and key spelling.
	if err := u.Set(`EMAILS[type eq "work"].value`, "new@x"); err != nil {
		t.Fatal(err)
	}
	if got, _ := u.Get(`emails[type eq "work"].value`); got != "new@x" || len(u["emails"].([]any)) != 2 {
		t.Fatalf("overwrite: %v", u["emails"])
	}
	// Wrong shapes are errors, not panics.
	for _, p := range []string{"userName.first", `name[type eq "x"].y`} {
		if err := u.Set(p, "v"); err == nil {
			t.Errorf("Set %s on a scalar: no error", p)
		}
	}
	if err := u.Set(`emails[type eq "x"]`, "not an object"); err == nil {
		t.Error("Set of a selected element to a string: no error")
	}
	if err := u.Set("x", make(chan int)); err == nil {
		t.Error("Set of a channel: no error")
	}

	// Deleting everything that was set restores an empty user: emptied objects and elements are pruned.
	u.Delete(`emails[type eq "work"].value`)
	if got, _ := u.Get("emails"); len(got.([]any)) != 1 {
		t.Fatalf("emails after delete: %v", got)
	}
	for _, s := range sets {
		u.Delete(s.path)
	}
	if len(u) != 0 {
		t.Fatalf("left after deleting everything: %v", u)
	}
	// Setting nil deletes.
	_ = u.Set("title", "x")
	_ = u.Set("title", nil)
	if _, ok := u["title"]; ok {
		t.Fatal("Set nil did not delete")
	}
}

func TestGetExtensionObject(t *testing.T) {
	u := User{}
	if err := u.Set(EnterpriseUserSchema+":department", "Sales"); err != nil {
		t.Fatal(err)
	}
	got, ok := u.Get(EnterpriseUserSchema)
	if !ok || !Equal(got, map[string]any{"department": "Sales"}) {
		t.Fatalf("Get(schema) = %v, %v", got, ok)
	}
	u.Delete(EnterpriseUserSchema)
	if len(u) != 0 {
		t.Fatalf("Delete(schema) left %v", u)
	}
}

// FuzzParsePath: any input parses or fails with a *PathError (never a panic), and a parsed path's canonical
// form parses to itself.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"userName", `emails[type eq "work"].value`, `addresses[type eq “work”].postalCode`,
		EnterpriseUserSchema + ":manager.value", EnterpriseUserSchema + ".department", "urn:a:b:c", `x[y eq 1.5e3].z`, `a[b eq "\""]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if _, ok := err.(*PathError); !ok {
				t.Fatalf("%q: error %T %v", s, err, err)
			}
			return
		}
		c := p.String()
		p2, err := ParsePath(c)
		if err != nil {
			t.Fatalf("%q: canonical %q does not parse: %v", s, c, err)
		}
		if p2.String() != c {
			t.Fatalf("%q: canonical %q reparses as %q", s, c, p2.String())
		}
		for i := 1; i < len(p.Elems); i++ {
			if sel := p.Elems[i-1].Select; sel != nil && strings.EqualFold(sel.Attr, p.Elems[i].Name) {
				return // setting the selector's own attribute moves the element out of the selection
			}
		}
		u := User{}
		if err := u.SetPath(p, "v"); err == nil {
			if got, ok := u.GetPath(p); !ok || got != "v" {
				t.Fatalf("%q: set then get = %v, %v", s, got, ok)
			}
			u.DeletePath(p)
			if len(u) != 0 {
				t.Fatalf("%q: set then delete left %v", s, u)
			}
		}
	})
}
