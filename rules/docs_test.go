package rules

import (
	"errors"
	"strings"
	"testing"
)

// TestDocumentationFilters covers every filter example of the product documentation (both revisions), each with a
// user that matches and one that does not. The e-mail addresses the text extraction mangled are restored as the
// originals were (john.smith@mycompany.com, "*@mycompany.com").
func TestDocumentationFilters(t *testing.T) {
	const appID = "a12f063b-1c8b-40e0-9988-01b46f478349"
	cases := []struct {
		filter   string
		match    string
		noMatch  string
		fields   Fields // for both users
		noFields Fields // when set, the non-matching case uses these fields with the matching user
	}{
		{filter: `(user.groups.display -match "App4.*") and (user.title -match "(Dog Trainer|Project Manager)")`,
			match:   `{"title":"Dog Trainer","groups":[{"display":"App4_Users","value":"g1"}]}`,
			noMatch: `{"title":"Consultant","groups":[{"display":"App4_Users","value":"g1"}]}`},
		{filter: `(user.groups.display -match "App1.*") and (user.title -match "(Dog Trainer|Project Manager)")`,
			match:   `{"title":"Project Manager","groups":[{"display":"App1","value":"App1"}]}`,
			noMatch: `{"title":"Project Manager","groups":[{"display":"App2","value":"App2"}]}`},
		{filter: `(user.roles.Application1.value -match ".*")`,
			match:   `{"roles":[{"type":"Application1","display":"Employees access","value":"Employees"}]}`,
			noMatch: `{"roles":[{"type":"Application2","display":"Employees access","value":"Employees"}]}`},
		{filter: `(user.roles.` + appID + `.value -match ".*")`,
			match:   `{"roles":[{"type":"Application1","appId":"` + appID + `","display":"Admins access","value":"Admins"}]}`,
			noMatch: `{"roles":[{"type":"Application1","appId":"0d0e4f3a-0000-0000-0000-000000000000","value":"Admins"}]}`},
		{filter: `(user.groups.display -match "App1_.*")`,
			match:   `{"groups":[{"display":"Admins","value":"Admins"},{"display":"App1_Employee","value":"App1_Employee"}]}`,
			noMatch: `{"groups":[{"display":"App10_Employee","value":"x"},{"display":"xApp1_Employee","value":"y"}]}`},
		{filter: `(user.groups.value -match "dc474382-b3b6-4d7b-a6da-e9721c4ba150" -exclude)`,
			match:   `{"groups":[{"display":"G","value":"dc474382-b3b6-4d7b-a6da-e9721c4ba150"}]}`,
			noMatch: `{"groups":[{"display":"dc474382-b3b6-4d7b-a6da-e9721c4ba150","value":"other"}]}`},
		{filter: `(user.title -match "Consultant")`,
			match:   `{"title":"Consultant"}`,
			noMatch: `{"title":"Senior Consultant"}`},
		{filter: `(user.title -match "Consultant") and (user.roles.` + appID + `.value -match ".*")`,
			match:   `{"title":"Consultant","roles":[{"type":"App1","appId":"` + appID + `","value":"User"}]}`,
			noMatch: `{"title":"Consultant","roles":[]}`},
		{filter: `(user.roles.` + appID + `.value -match ".*") and (initiatedByUpn -match "(?!Sync_.*)")`,
			match:    `{"roles":[{"type":"App1","appId":"` + appID + `","value":"User"}]}`,
			fields:   Fields{"initiatedByUpn": "john.smith@mycompany.com"},
			noFields: Fields{"initiatedByUpn": "Sync_ADCONNECT01_9f1a@mycompany.onmicrosoft.com"}},
		{filter: `(employmentNav.results -most_current "startDate")`}, // parse-only: a mapper rule
		{filter: `(.*)`, match: `{"userName":"a"}`},
		{filter: `(user.groups.value -match "9936d283-2ac4-4c78-a8a0-52631fb20344")`,
			match:   `{"groups":[{"display":"x","value":"9936d283-2ac4-4c78-a8a0-52631fb20344"}]}`,
			noMatch: `{"groups":[{"display":"x","value":"9936d283-2ac4-4c78-a8a0-52631fb20345"}]}`},
		{filter: `(user.groups.display -match "App3.*")`,
			match:   `{"groups":[{"display":"App3_x","value":"App3_x"}]}`,
			noMatch: `{"groups":[{"display":"App2","value":"App3_x"}]}`},
		{filter: `(user.roles.Application 1.value -match "Employees")`,
			match:   `{"roles":[{"type":"Application 1","display":"Employees","value":"Employees"}]}`,
			noMatch: `{"roles":[{"type":"Application 1","display":"Employees","value":"Employees2"}]}`},
		{filter: `(user.emails.work.value -match "*@mycompany.com")`,
			match:   `{"emails":[{"type":"other","value":"john@gmail.com"},{"type":"work","value":"john.smith@mycompany.com"}]}`,
			noMatch: `{"emails":[{"type":"other","value":"john.smith@mycompany.com"},{"type":"work","value":"john.smith@mycompany.com.evil.org"}]}`},
		{filter: `(user.title -match ".*Consultant.*")`,
			match:   `{"title":"Senior Consultant II"}`,
			noMatch: `{"title":"Consulting"}`},
		{filter: `(user.name.givenName -match ".*enr.*")`,
			match:   `{"name":{"givenName":"Henry"}}`,
			noMatch: `{"name":{"givenName":"Harry"}}`},
		{filter: `(user.emails.work.value -match ".*@tenant.com")`,
			match:   `{"emails":[{"type":"work","value":"a@tenant.com"}]}`,
			noMatch: `{"emails":[{"type":"home","value":"a@tenant.com"}]}`},
		{filter: `(user.addresses.work.postalCode -match "91608")`,
			match:   `{"addresses":[{"type":"work","postalCode":"91608"}]}`,
			noMatch: `{"addresses":[{"type":"home","postalCode":"91608"},{"type":"work","postalCode":"916080"}]}`},
		{filter: `(user.groups.value -match "9936d283-2ac4-4c78-a8a0-52631fb20344" -exclude)`,
			match:   `{"groups":[{"display":"x","value":"9936d283-2ac4-4c78-a8a0-52631fb20344"}]}`,
			noMatch: `{"groups":[{"display":"9936d283-2ac4-4c78-a8a0-52631fb20344","value":"x"}]}`},
		{filter: `(user.groups.display -match "App1")`,
			match:   `{"groups":[{"display":"App1","value":"1"}]}`,
			noMatch: `{"groups":[{"display":"App10","value":"App1x"}]}`},
		{filter: `(user.roles.` + appID + `.value -match ".*")`,
			match:   `{"roles":[{"type":"Entra Application Test","appId":"` + appID + `","value":"role-value1"}]}`,
			noMatch: `{"groups":[{"display":"` + appID + `","value":"` + appID + `"}]}`},
		{filter: `(user.roles.Entra Application Test.value -match ".*")`,
			match:   `{"roles":[{"type":"Entra Application Test","value":"role-value1"}]}`,
			noMatch: `{"roles":[{"type":"Entra Application","value":"role-value1"}]}`},
		{filter: `(user.roles.Entra Application Test.value -match "role-value1")`,
			match:   `{"roles":[{"type":"Entra Application Test","value":"role-value2"},{"type":"Entra Application Test","value":"role-value1"}]}`,
			noMatch: `{"roles":[{"type":"Entra Application Test","value":"role-value2"},{"type":"Other","value":"role-value1"}]}`},
		{filter: `(user.dynamicIds -match "dynamic-1")`,
			match:   `{"dynamicIds":["dynamic-2","dynamic-1"]}`,
			noMatch: `{"dynamicIds":["dynamic-10"]}`},
		// do_initial_load_filter examples (later revision)
		{filter: `(user.roles.25a131d0-af63-443b-976f-ac0076734627.value -match ".*")`,
			match:   `{"roles":[{"type":"App1","appId":"25a131d0-af63-443b-976f-ac0076734627","value":"x"}]}`,
			noMatch: `{"roles":[]}`},
		{filter: `(user.roles.App1.value -match ".*")`,
			match:   `{"roles":[{"type":"App1","value":"x"}]}`,
			noMatch: `{}`},
		{filter: `(user.groups.value -match "dc384382-b3b6-4d6b-a6da-e9801c4ba150")`,
			match:   `{"groups":[{"value":"dc384382-b3b6-4d6b-a6da-e9801c4ba150"}]}`,
			noMatch: `{"groups":[{"value":"5f2a9c65-5d65-4e66-a9d6-379dd92974ca"}]}`},
		{filter: `(user.groups.value -match "(dc384382-b3b6-4d6b-a6da-e9801c4ba150|5f2a9c65-5d65-4e66-a9d6-379dd92974ca)")`,
			match:   `{"groups":[{"value":"5f2a9c65-5d65-4e66-a9d6-379dd92974ca"}]}`,
			noMatch: `{"groups":[{"value":"5f2a9c65-5d65-4e66-a9d6-379dd92974cb"}]}`},
		{filter: `(user.groups.display -match "Group1")`,
			match:   `{"groups":[{"display":"Group1"}]}`,
			noMatch: `{"groups":[{"display":"Group12"}]}`},
		{filter: `(user.userName -match "john.smith@mycompany.com")`,
			match:   `{"userName":"john.smith@mycompany.com"}`,
			noMatch: `{"userName":"jane.smith@mycompany.com"}`},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			terms, err := Parse(c.filter)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if terms[0].Op == "most_current" {
				if terms[0].Path != "employmentNav.results" || terms[0].Arg != "startDate" {
					t.Errorf("Parse = %+v", terms[0])
				}
				if _, err := CompileFilter(c.filter); err == nil {
					t.Error("-most_current compiled as a stream filter")
				}
				return
			}
			f := mustFilter(t, c.filter)
			if !f.Match(user(t, c.match), c.fields) {
				t.Errorf("does not match %s (fields %v)", c.match, c.fields)
			}
			switch {
			case c.noFields != nil:
				if f.Match(user(t, c.match), c.noFields) {
					t.Errorf("matches %s with fields %v", c.match, c.noFields)
				}
			case c.noMatch != "":
				if f.Match(user(t, c.noMatch), c.fields) {
					t.Errorf("matches %s", c.noMatch)
				}
			default:
				if f.Match(nil, nil) {
					t.Error("matches a nil user")
				}
			}
		})
	}
}

// TestDocumentationFiltersAsPrinted: the later revision prints some filters with the path lost by the text
// extraction, e.g. ( -match ".*enr.*"). Written like that they are rejected with the column and the fix, not read
// as something else.
func TestDocumentationFiltersAsPrinted(t *testing.T) {
	for _, f := range []string{`( -match ".*enr.*")`, `( -match ".*")`, `( -match "91608")`, `( -match "*[email protected]")`} {
		_, err := CompileFilter(f)
		var e *Error
		if !errors.As(err, &e) || e.Column != 3 || !strings.Contains(e.Msg, "missing attribute path before the operator, e.g. (user.title -match") {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestAnchoring pins the anchoring rule the README states.
func TestAnchoring(t *testing.T) {
	cases := []struct {
		pattern, value string
		want           bool
	}{
		{"App1", "App1", true},
		{"App1", "App10", false},
		{"App1", "xApp1", false},
		{"App1.*", "App10", true},
		{"a|b", "a", true},
		{"a|b", "ab", false}, // the alternation is grouped before anchoring
		{".*", "", true},
		{".*", "two\nlines", false}, // '.' is not a line break, as in the regex engine
		{"(?s).*", "two\nlines", true},
		{"(?i)app1", "APP1", true},
		// a pattern made only of look-around tests the value from its start
		{"(?!Sync_.*)", "john@mycompany.com", true},
		{"(?!Sync_.*)", "Sync_ADCONNECT01@mycompany.com", false},
		{"(?!Sync_.*)", "", true},
		{"(?!Sync_)(?=.*@)", "a@b", true},
		{"(?!Sync_)(?=.*@)", "ab", false},
		// look-ahead followed by more pattern is a whole-value regex
		{"(?!Sync_).*", "john", true},
		{"(?!Sync_).*", "Sync_x", false},
		{"(?=a)", "ab", true},
		// globs: a leading '*' (never a valid regex) is a glob with '*' = any text, the rest literal
		{"*@mycompany.com", "john.smith@mycompany.com", true},
		{"*@mycompany.com", "john.smith@mycompanyXcom", false}, // '.' is literal in a glob
		{"*@mycompany.com", "john@mycompany.com.evil", false},
		{"*@mycompany.com", "x\n@mycompany.com", true},
		{"*smith*", "john.smith@x", true},
		{"*smith*", "john.smyth@x", false},
		{"*a*b", "xaxxb", true},
		{"*a*b", "xaxxbx", false},
		{"*", "anything\n", true},
	}
	for _, c := range cases {
		p, err := compilePattern(c.pattern)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		if got := p.match(c.value); got != c.want {
			t.Errorf("%q on %q = %v, want %v", c.pattern, c.value, got, c.want)
		}
	}
}

// TestExtensionPaths: enterprise extension attributes in the documentation's dot form and RFC 7644's colon form.
func TestExtensionPaths(t *testing.T) {
	u := user(t, `{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Tour Operations","manager":{"value":"m1"}}}`)
	for _, f := range []string{
		`(user.urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department -match "Tour.*")`,
		`(user.urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department -match "Tour.*")`,
		`(user.urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value -match "m1")`,
	} {
		if !mustFilter(t, f).Match(u, nil) {
			t.Errorf("%s does not match", f)
		}
	}
	if mustFilter(t, `(user.urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department -match "Tour")`).Match(u, nil) {
		t.Error("anchoring ignored on an extension attribute")
	}
}

// TestFastPathKinds: the documentation's common pattern shapes avoid the regex engine (FuzzPatternFastPath
// checks they answer as it would).
func TestFastPathKinds(t *testing.T) {
	for pat, want := range map[string]patternKind{
		".*": patAny, "Employees": patEqual, "App3.*": patPrefix, ".*@tenant.com": patRegex, ".*Consultant.*": patContains,
		"*@mycompany.com": patSuffix, "(Dog Trainer|Project Manager)": patOneOf, "a|b|c": patOneOf,
		"(?!Sync_.*)": patRegex, "(a|b)c": patRegex, "(a)|(b)": patRegex, "(?:a|b)": patRegex,
	} {
		p, err := compilePattern(pat)
		if err != nil {
			t.Fatal(err)
		}
		if p.kind != want {
			t.Errorf("%q: kind %d, want %d", pat, p.kind, want)
		}
	}
}
