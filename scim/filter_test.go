package scim

import (
	"encoding/json"
	"errors"
	"testing"
)

func testUser(t testing.TB) map[string]any {
	t.Helper()
	var u map[string]any
	err := json.Unmarshal([]byte(`{
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
		"id": "2819c223-7f76-453a-919d-413861904646",
		"externalId": "Bjensen",
		"userName": "bjensen@example.com",
		"name": {"familyName": "Jensen", "givenName": "Barbara"},
		"active": true,
		"title": "Tour Guide",
		"loginCount": 42,
		"emails": [
			{"value": "bjensen@example.com", "type": "work", "primary": true},
			{"value": "babs@jensen.org", "type": "home"}
		],
		"groups": [{"value": "e9e30dba", "display": "Tour Guides"}],
		"nicknames": ["Babs", "BJ"],
		"meta": {"created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
			"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "26118915"}
		}
	}`), &u)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFilterMatch(t *testing.T) {
	u := testUser(t)
	cases := []struct {
		filter string
		want   bool
	}{
		{`userName eq "bjensen@example.com"`, true},
		{`USERNAME EQ "BJENSEN@example.com"`, true}, // attribute names, operators and values case-insensitive
		{`userName eq "bjensen"`, false},
		{`userName ne "bjensen"`, true},
		{`userName ne "bjensen@example.com"`, false},
		{`id eq "2819C223-7F76-453A-919D-413861904646"`, false}, // id is case-exact
		{`externalId eq "Bjensen"`, true},
		{`externalId eq "bjensen"`, false},
		{`name.familyName co "ens"`, true},
		{`name.familyName sw "J"`, true},
		{`name.familyName ew "sen"`, true},
		{`name.familyName ew "jen"`, false},
		{`title pr`, true},
		{`nickName pr`, false},
		{`name.middleName pr`, false},
		{`active eq true`, true},
		{`active eq false`, false},
		{`active ne false`, true},
		{`loginCount gt 41`, true},
		{`loginCount ge 42`, true},
		{`loginCount lt 42`, false},
		{`loginCount le 42.0`, true},
		{`meta.created ge "2010-01-01T00:00:00Z"`, true},
		{`meta.created lt "2010-01-23T05:56:22+01:00"`, false}, // same instant in another zone
		{`meta.lastModified gt "2011-05-13T04:42:34Z"`, false},
		{`emails.value co "@example.com"`, true},
		{`emails co "@jensen.org"`, true}, // complex values compare by their "value"
		{`emails.type eq "home"`, true},
		{`emails[type eq "work" and value co "@example.com"]`, true},
		{`emails[type eq "home" and value co "@example.com"]`, false},
		{`emails[type eq "work"].value ew "example.com"`, true},
		{`emails[type eq "home"].value ew "example.com"`, false},
		{`emails[not (type eq "work")]`, true},
		{`emails[primary eq true]`, true},
		{`nicknames eq "bj"`, true},
		{`nicknames[value sw "Ba"]`, true},
		{`groups[display eq "Tour Guides"]`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984"`, true},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen"`, true},
		{`title pr and userType eq "Employee"`, false},
		{`title pr or userType eq "Employee"`, true},
		{`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`, false},
		{`title pr and (emails co "example.com" or emails.value co "example.org")`, true},
		{`not (title pr)`, false},
		{`not(userName eq "x") and not (title eq "y")`, true},
		{`a eq "1" or b eq "2" and c eq "3" or title pr`, true},    // and binds tighter than or
		{`title pr and userName eq "x" or userName eq "y"`, false}, // (title pr and …) or …
		{`nickName eq null`, true},
		{`title eq null`, false},
		{`userName eq "a\"b"`, false},
		{`(((userName sw "b")))`, true},
		// Unquoted values (Microsoft's reference collection sends them).
		{`userName eq bjensen@example.com`, true},
		{`name.familyName eq Jensen and (emails.value co example.com or emails.value co example.org)`, true},
		{`meta.created gt 2010-01-23T04:56:21.8617979-07:00`, false},
		{`meta.created gt 2010-01-22T14:38:21.8617979-07:00`, true},
		{`userName sw b`, true},
	}
	for _, c := range cases {
		f, err := ParseFilter(c.filter)
		if err != nil {
			t.Errorf("ParseFilter(%s): %v", c.filter, err)
			continue
		}
		if got := f.Match(u); got != c.want {
			t.Errorf("%s: Match = %v, want %v (parsed as %s)", c.filter, got, c.want, f.Canonical())
		}
	}
}

func TestFilterPrecedence(t *testing.T) {
	cases := map[string]string{
		`a eq "1" or b eq "2" and c eq "3"`:                          `(a eq "1" or (b eq "2" and c eq "3"))`,
		`(a eq "1" or b eq "2") and c eq "3"`:                        `((a eq "1" or b eq "2") and c eq "3")`,
		`not (a pr) and b pr`:                                        `(not (a pr) and b pr)`,
		`emails[type eq "work"].value eq "x"`:                        `emails[type eq "work"].value eq "x"`,
		`x GT 1e3`:                                                   `x gt 1000`,
		`meta.created Ge "2010-01-01T00:00:00Z"`:                     `meta.created ge "2010-01-01T00:00:00Z"`,
		`members.value eq "bjensen" AND a Pr`:                        `(members.value eq "bjensen" and a pr)`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`: `userName eq "x"`,
	}
	for in, want := range cases {
		f, err := ParseFilter(in)
		if err != nil {
			t.Errorf("ParseFilter(%s): %v", in, err)
			continue
		}
		if got := f.Canonical(); got != want {
			t.Errorf("ParseFilter(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestFilterSyntaxErrors(t *testing.T) {
	bad := []string{
		``,
		`   `,
		`userName`,
		`userName eq`,
		`userName equals "x"`,   // unknown operator
		`userName eq "x`,        // unterminated string
		`(userName eq "x"`,      // missing )
		`userName eq "x")`,      // stray )
		`emails[type eq "work"`, // missing ]
		`emails[type[value eq "x"] eq "y"]`,
		`emails.value[type eq "x"]`,
		`userName co 3`,  // co needs a string
		`active gt true`, // ordering on booleans
		`userName eq "x" and`,
		`and userName eq "x"`,
		`not userName eq "x"`, // not needs parentheses
		`1abc eq "x"`,
		`a@b eq "x"`,
		`userName eq "x" and 2010-01-01 pr`,
		`user*Name eq "x"`,
		`userName eq "x" userName eq "y"`,
		`name..familyName eq "x"`,
		`emails[type eq "work"].value.x eq "y"`,
		`emails[type eq "work"] eq "y"`,
	}
	for _, s := range bad {
		_, err := ParseFilter(s)
		var fe *FilterError
		if !errors.As(err, &fe) {
			t.Errorf("ParseFilter(%q) = %v, want a *FilterError", s, err)
		}
	}
	// Deep nesting is refused instead of exhausting the stack.
	deep := ""
	for range 10000 {
		deep += "("
	}
	if _, err := ParseFilter(deep + `a pr`); err == nil {
		t.Error("ParseFilter accepted 10000 nested parentheses")
	}
}

func TestFilterZeroMatchesAll(t *testing.T) {
	if !(Filter{}).Match(map[string]any{}) {
		t.Fatal("zero Filter must match everything")
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "bjensen"`, `emails[type eq "work" and value co "@x"]`, `not (a pr) or b gt 3`,
		`meta.created ge "2010-01-01T00:00:00Z"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"`,
		`emails[type eq "work"].value ew "com"`, `((a eq true) and b ne null)`, `x le -1.5e2`,
	} {
		f.Add(s)
	}
	u := testUser(f)
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFilter(%q) error %T is not a *FilterError", s, err)
			}
			return
		}
		canon := flt.Canonical()
		again, err := ParseFilter(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again.Canonical() != canon {
			t.Fatalf("canonical form is not stable: %q -> %q", canon, again.Canonical())
		}
		if flt.Match(u) != again.Match(u) {
			t.Fatalf("%q and its canonical form %q disagree", s, canon)
		}
	})
}
