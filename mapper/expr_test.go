package mapper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// hrWith compiles an hr mapper with the mandatory mappings plus extra ones.
func hrWith(extra ...config.Mapping) (*Mapper, error) {
	base := []config.Mapping{{Source: "id", MapTo: "userName"}, {Source: "s", MapTo: "startDate"}, {Source: "e", MapTo: "endDate"}}
	return Compile(wire.HR, config.Mapper{User: append(base, extra...)})
}

func mapOne(t *testing.T, source string, raw map[string]any) (any, error) {
	t.Helper()
	m, err := hrWith(config.Mapping{Source: "first", MapTo: "name.givenName"}, config.Mapping{Source: "last", MapTo: "name.familyName"},
		config.Mapping{Source: source, MapTo: "title", Line: 7})
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	u, err := m.Map(context.Background(), raw, Options{New: true, Owner: "o", Unique: NewMemory()})
	v, _ := u.Get("title")
	return v, err
}

func TestFunctions(t *testing.T) {
	raw := map[string]any{
		"first": "Anne Marie", "last": "Østergård", "mail": "Anne.Marie@MyCompany.com", "n": 42.0, "flag": true,
		"phones": []any{"1", "2"}, "obj": map[string]any{"a": "b"},
		"phoneNav": map[string]any{"results": []any{
			map[string]any{"phoneNumber": "111", "isPrimary": false},
			map[string]any{"phoneNumber": "222", "isPrimary": "true"},
		}},
		"emailNav": map[string]any{"results": []any{map[string]any{"emailAddress": "e@x"}}},
		"list":     []any{map[string]any{"k": "first"}, map[string]any{"k": "second"}},
	}
	cases := []struct {
		src  string
		want any // nil: nothing mapped
	}{
		{"mail", "Anne.Marie@MyCompany.com"},
		{"LowerCase(mail)", "anne.marie@mycompany.com"},
		{"UpperCase([name.givenName])", "ANNE MARIE"},
		{`Join([name.givenName], " ", [name.familyName])`, "Anne Marie Østergård"},
		{`Join("a")`, "a"},
		{`Join(n, "-", flag)`, "42-true"},
		{`Replace([name.givenName], " ", ".")`, "Anne.Marie"},
		{`Replace(mail, "", "x")`, "Anne.Marie@MyCompany.com"},
		{`Normalize([name.familyName])`, "Ostergard"},
		{`FirstN([name.familyName], 3)`, "Øst"},
		{`FirstN(mail, 0)`, ""},
		{`FirstN("ab", 5)`, "ab"},
		{`ElementNumber(mail, "@", 2)`, "MyCompany.com"},
		{`ElementNumber(mail, "@", 1)`, "Anne.Marie"},
		{`ElementNumber(mail, "@", 3)`, nil},
		{`LowerCase(ElementNumber(Replace(mail, "@", "."), ".", 2))`, "marie"},
		{`Increment("01", false)`, ""},
		{`Increment(01, true)`, "01"},
		{`Join(LowerCase(missing), "x")`, nil}, // a missing argument maps nothing
		{"missing", nil},
		{"phoneNav.results.[{\"isPrimary\":true}].phoneNumber", "222"},
		{"phoneNav.results[{\"isPrimary\":false}].phoneNumber", "111"},
		{"phoneNav.results.[1].phoneNumber", "222"},
		{"phoneNav.results[5].phoneNumber", nil},
		{"phoneNav.phoneNumber", "111"},  // OData collection: first element
		{"emailNav.emailAddress", "e@x"}, // OData collection without results in the path
		{"list.k", "first"},              // a key on an array reads the first element
		{"phones", nil},                  // a list cannot be SCIM title (a string): a mapping error, below
		{`  LowerCase( mail )  `, "anne.marie@mycompany.com"},
		{`Join(“x”, "y", ”z“)`, "xyz"}, // typographic quotes open and close strings
		{`Join("a\"b")`, `a"b`},
		{`GetUniqueValue(LowerCase(mail))`, "anne.marie@mycompany.com"},
		{`Join(GetUniqueValue(Join("u", Increment("1", true))), "!")`, "u1!"},
		{`"Employee"`, "Employee"}, // constants
		{`42`, "42"},
		{`true`, "true"}, // title is a SCIM string: scalars become strings
		{"n", "42"},
	}
	for _, c := range cases {
		got, err := mapOne(t, c.src, raw)
		if c.src == "phones" {
			if err == nil || !strings.Contains(err.Error(), "the value is a list, and SCIM title is a string") {
				t.Errorf("phones: want a mapping error naming the type, got %v %v", got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if !scim.Equal(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.src, got, c.want)
		}
	}
}

// TestDocsExpressionWithTypographicQuotes is the documentation's GetUniqueValue example as printed, with its mix
// of straight and typographic quotes.
func TestDocsExpressionWithTypographicQuotes(t *testing.T) {
	src := `GetUniqueValue(Normalize(Join(LowerCase(Replace([name.givenName]," “,”.")),".",LowerCase(Replace([name.familyName]," “,”.")),Increment(“01”,false),"@mycompany.com")))`
	reg := NewMemory()
	raw := map[string]any{"first": "Per Åke", "last": "Ström"}
	m, err := hrWith(config.Mapping{Source: "first", MapTo: "name.givenName"}, config.Mapping{Source: "last", MapTo: "name.familyName"},
		config.Mapping{Source: src, MapTo: "onCreate.userPrincipalName"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"per.ake.strom@mycompany.com", "per.ake.strom01@mycompany.com", "per.ake.strom02@mycompany.com"} {
		u, err := m.Map(context.Background(), raw, Options{New: true, Owner: string(rune('a' + i)), Unique: reg})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := u.Get("onCreate.userPrincipalName"); got != want {
			t.Fatalf("user %d: %v, want %s", i, got, want)
		}
	}
}

func TestNormalizeLetters(t *testing.T) {
	cases := map[string]string{
		"é": "e", "å": "a", "Å": "A", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ẞ": "SS",
		"ä": "a", "ö": "o", "ü": "u", "Ü": "U", "ñ": "n", "ç": "c", "č": "c", "ł": "l", "Ł": "L", "đ": "d",
		"ð": "d", "þ": "th", "œ": "oe", "ı": "i", "ő": "o", "ș": "s",
		"Bjørn Ødegård": "Bjorn Odegard", "Jürgen Weiß": "Jurgen Weiss", "Ærlig Ålesund": "AErlig Alesund",
		"plain ascii 123": "plain ascii 123", "e\u0301": "e", // already decomposed
		"日本": "日本", // not Latin: kept
	}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDate(t *testing.T) {
	want := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	ms := float64(want.UnixMilli())
	for _, in := range []any{
		ms, int64(ms), "1710460800000", "/Date(1710460800000)/", "/Date(1710460800000+0000)/",
		"2024-03-15", "2024/03/15", "15/03/2024", "2024-03-15T00:00:00Z", "2024-03-15T01:00:00+01:00",
		"2024-03-15T00:00:00", "2024-03-15T00:00:00.000", " 2024-03-15 ", "/Date(1710460800000+0100)/",
	} {
		got, ok := ParseDate(in)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseDate(%#v) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []any{nil, "", "tomorrow", "/Date(abc)/", "/Date()/", "/Date(+0100)/", "2024-13-01", "31/31/2024", true, []any{}} {
		if got, ok := ParseDate(in); ok {
			t.Errorf("ParseDate(%#v) = %v, want not a date", in, got)
		}
	}
}

func TestMostCurrent(t *testing.T) {
	m, err := Compile(wire.HR, config.Mapper{
		Rules: []config.Filter{{Filter: `(emp.results -most_current “startDate”)`, Line: 3}},
		User: []config.Mapping{
			{Source: "id", MapTo: "userName"},
			{Source: "emp.results.[0].from", MapTo: "startDate"},
			{Source: "emp.results.[0].to", MapTo: "endDate"},
			{Source: "emp.results.title", MapTo: "title"},        // implicit element under the rule's array
			{Source: "emp.results.[1].title", MapTo: "nickName"}, // other indexes keep their meaning
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	emp := func(title, from string, to any) map[string]any {
		return map[string]any{"title": title, "from": from, "to": to}
	}
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		emps []any
		want string
	}{
		{"current among past and future", []any{emp("past", "2010-01-01", "2015-01-01"), emp("cur", "2020-01-01", nil), emp("fut", "2030-01-01", nil)}, "cur"},
		{"latest of two current", []any{emp("older", "2019-01-01", nil), emp("newer", "2021-01-01", "2099-01-01")}, "newer"},
		{"ended yesterday is past", []any{emp("ended", "2020-01-01", "2024-05-31"), emp("next", "2024-07-01", nil)}, "next"},
		{"nearest future", []any{emp("far", "2031-01-01", nil), emp("near", "2025-01-01", nil)}, "near"},
		{"all past: the last one", []any{emp("a", "2001-01-01", "2002-01-01"), emp("b", "2005-01-01", "2006-01-01"), emp("c", "2003-01-01", "2004-01-01")}, "b"},
		{"SuccessFactors dates", []any{emp("x", "/Date(1262304000000)/", "/Date(1577750400000)/"), emp("y", "/Date(1577836800000)/", "/Date(253402214400000)/")}, "y"},
		{"no readable dates: first", []any{emp("first", "soon", nil), emp("second", "", nil)}, "first"},
	}
	for _, c := range cases {
		raw := map[string]any{"id": "1", "emp": map[string]any{"results": c.emps}}
		u, err := m.Map(context.Background(), raw, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if u["title"] != c.want {
			t.Errorf("%s: title %v, want %s", c.name, u["title"], c.want)
		}
		if c.name == "current among past and future" && u["nickName"] != "cur" && u["nickName"] != c.emps[1].(map[string]any)["title"] {
			t.Errorf("[1] should read the second element: %v", u["nickName"])
		}
	}
	raw := map[string]any{"id": "1", "emp": map[string]any{"results": []any{}}}
	if u, err := m.Map(context.Background(), raw, Options{Now: now}); err != nil || u["title"] != nil {
		t.Fatalf("no employments: %v %v", u, err)
	}
}

// TestMostCurrentDateFormats: the -most_current rule picks the current employment among a past, a future and a
// current one whatever documented format the dates have (the same record also gives startDate/endDate as sent).
func TestMostCurrentDateFormats(t *testing.T) {
	m, err := Compile(wire.HR, config.Mapper{
		Rules: []config.Filter{{Filter: `(employmentNav.results -most_current "startDate")`}},
		User: []config.Mapping{
			{Source: "id", MapTo: "userName"},
			{Source: "employmentNav.results.[0].startDate", MapTo: "startDate"},
			{Source: "employmentNav.results.[0].endDate", MapTo: "endDate"},
			{Source: "employmentNav.results.[0].jobTitle", MapTo: "title"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	days := []time.Time{
		time.Date(2010, 1, 31, 0, 0, 0, 0, time.UTC),  // past start
		time.Date(2015, 12, 31, 0, 0, 0, 0, time.UTC), // past end
		time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC),   // current start
		time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC), // current end
		time.Date(2030, 3, 15, 0, 0, 0, 0, time.UTC),  // future start
	}
	formats := map[string]func(time.Time) any{
		"unix milliseconds (number)": func(d time.Time) any { return float64(d.UnixMilli()) },
		"unix milliseconds (text)":   func(d time.Time) any { return fmt.Sprint(d.UnixMilli()) },
		"/Date(ms)/":                 func(d time.Time) any { return fmt.Sprintf("/Date(%d)/", d.UnixMilli()) },
		"/Date(ms+0000)/":            func(d time.Time) any { return fmt.Sprintf("/Date(%d+0000)/", d.UnixMilli()) },
		"YYYY-MM-dd":                 func(d time.Time) any { return d.Format("2006-01-02") },
		"YYYY/MM/dd":                 func(d time.Time) any { return d.Format("2006/01/02") },
		"dd/MM/YYYY":                 func(d time.Time) any { return d.Format("02/01/2006") },
		"ISO date-time (Z)":          func(d time.Time) any { return d.Format(time.RFC3339) },
		"ISO date-time (offset)":     func(d time.Time) any { return d.In(time.FixedZone("", 3600)).Format(time.RFC3339) },
		"ISO date-time (no zone)":    func(d time.Time) any { return d.Format("2006-01-02T15:04:05.000") },
	}
	for name, f := range formats {
		emp := func(title string, start, end any) map[string]any {
			return map[string]any{"jobTitle": title, "startDate": start, "endDate": end}
		}
		raw := map[string]any{"id": "1", "employmentNav": map[string]any{"results": []any{
			emp("past", f(days[0]), f(days[1])),
			emp("future", f(days[4]), nil),
			emp("current", f(days[2]), f(days[3])),
		}}}
		u, err := m.Map(context.Background(), raw, Options{Now: now})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if u["title"] != "current" || !scim.Equal(u["startDate"], f(days[2])) || !scim.Equal(u["endDate"], f(days[3])) {
			t.Errorf("%s: title %v, startDate %v, endDate %v; want the current employment", name, u["title"], u["startDate"], u["endDate"])
		}
		for i, d := range days {
			if got, ok := ParseDate(f(d)); !ok || !got.Equal(d) {
				t.Errorf("%s: date %d reads as %v, %v", name, i, got, ok)
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		src, mapTo string
		col        int
		msg        string
	}{
		{`Join([name.givenName], " "`, "title", 27, `expected ',' or ')' to close Join(`},
		{`Lowercase(mail)`, "title", 1, `did you mean LowerCase?`},
		{`Concat(a, b)`, "title", 1, `unknown function "Concat"; functions are ElementNumber, FirstN, GetUniqueValue, Increment, Join, LowerCase, Normalize, Replace, UpperCase`},
		{`Join(mail,)`, "title", 11, "expected an argument"},
		{`Replace(mail, "a")`, "title", 1, "Replace takes 3 argument(s), got 2"},
		{`LowerCase()`, "title", 1, "LowerCase takes 1 argument(s), got 0"},
		{`LowerCase("abc)`, "title", 11, "the string is not closed"},
		{`FirstN(mail, -1)`, "title", 1, "FirstN's last argument must be a whole number"},
		{`Increment(x, false)`, "title", 1, "Increment's first argument must be a number"},
		{`Increment("01", maybe)`, "title", 1, "Increment's second argument must be true"},
		{`GetUniqueValue(Join(GetUniqueValue(mail)))`, "title", 1, "cannot contain another GetUniqueValue"},
		{`a..b`, "title", 3, "expected an attribute name"},
		{`a.[x]`, "title", 4, "expected an index such as [0]"},
		{`a.[{"isPrimary":}].b`, "title", 4, "expected an object selector"},
		{`Join(mail) extra`, "title", 12, `unexpected "e" after the end of the expression`},
		{`[name.givenName`, "title", 1, "'[' is not closed"},
		{`[name..givenName]`, "title", 7, "expected a SCIM attribute such as [name.givenName]"},
		{`Join(x) )`, "title", 9, "unexpected"},
		{`Å(x)`, "title", 1, `"Å" is not a function`},
		{``, "title", 1, "the source is empty"},
		{`mail`, `emails[type eq work].value`, 0, `map_to: attribute path "emails[type eq work].value": column 16: expected a quoted string`},
		{`mail`, `_mail`, 0, `map_to: "_mail" is not a SCIM attribute name: start with a letter`},
		{`mail`, `name.given$Name`, 0, `map_to: "given$Name" is not a SCIM attribute name`},
		{`Join([title], "x")`, "displayName", 6, "[title] refers to a SCIM attribute that no mapping sets"},
	}
	for _, c := range cases {
		_, err := hrWith(config.Mapping{Source: c.src, MapTo: c.mapTo, Line: 42})
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("%s: got %v, want an *Error", c.src, err)
			continue
		}
		if me.Line != 42 || me.Column != c.col || !strings.Contains(me.Msg, c.msg) || me.Source != c.src || me.MapTo != c.mapTo {
			t.Errorf("%s: got line %d column %d %q, want column %d containing %q", c.src, me.Line, me.Column, me.Msg, c.col, c.msg)
		}
	}
	// The whole message names the line, the mapping, its map_to, the column and what was expected.
	_, err := hrWith(config.Mapping{Source: `Join([name.givenName], " "`, MapTo: "name.formatted", Line: 33})
	want := `line 33: mapper.user "Join([name.givenName], \" \"" (map_to "name.formatted"): column 27: expected ',' or ')' to close Join(, found the end of the expression`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestCompileConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		kind wire.Type
		m    config.Mapper
		msg  []string
	}{
		{"entra groups override", wire.Entra, config.Mapper{User: []config.Mapping{{Source: "memberOf", MapTo: "groups", Line: 5}}},
			[]string{`line 5: mapper.user "memberOf" (map_to "groups"): groups cannot be overridden`}},
		{"entra roles override", wire.Entra, config.Mapper{User: []config.Mapping{{Source: "department", MapTo: "Roles", Line: 6}}},
			[]string{"roles cannot be overridden"}},
		{"entra appRoles elsewhere", wire.Entra, config.Mapper{User: []config.Mapping{{Source: "appRoles", MapTo: "entitlements", Line: 7}}},
			[]string{"appRoles is always mapped to roles"}},
		{"entra group mapping", wire.Entra, config.Mapper{Group: []config.Mapping{{Source: "mailNickname", MapTo: "displayName", Line: 8}}},
			[]string{"the group mapping cannot be overridden"}},
		{"entra rules", wire.Entra, config.Mapper{Rules: []config.Filter{{Filter: `(x -most_current "startDate")`, Line: 9}}},
			[]string{"mapper rules apply to hr tenants only"}},
		{"hr mandatory", wire.HR, config.Mapper{User: []config.Mapping{{Source: "id", MapTo: "userName"}}},
			[]string{"no mapping sets startDate", "no mapping sets endDate"}},
		{"hr rule form", wire.HR, config.Mapper{Rules: []config.Filter{{Filter: `(employmentNav.results -latest "startDate")`, Line: 4}},
			User: []config.Mapping{{Source: "id", MapTo: "userName"}, {Source: "s", MapTo: "startDate"}, {Source: "e", MapTo: "endDate"}}},
			[]string{`line 4: mapper.rules "(employmentNav.results -latest \"startDate\")": mapper rules support one form`}},
		{"cycle", wire.HR, config.Mapper{User: []config.Mapping{{Source: "id", MapTo: "userName"}, {Source: "s", MapTo: "startDate"}, {Source: "e", MapTo: "endDate"},
			{Source: "[title]", MapTo: "displayName"}, {Source: "[displayName]", MapTo: "title"}}}, []string{"form a cycle"}},
		{"onCreate extension", wire.HR, config.Mapper{User: []config.Mapping{{Source: "id", MapTo: "userName"}, {Source: "s", MapTo: "startDate"}, {Source: "e", MapTo: "endDate"},
			{Source: "x", MapTo: "onCreate.urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}}}, []string{"map_to"}},
	}
	for _, c := range cases {
		_, err := Compile(c.kind, c.m)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, msg := range c.msg {
			if !strings.Contains(err.Error(), msg) {
				t.Errorf("%s: %v\nwant it to contain %s", c.name, err, msg)
			}
		}
	}
	if _, err := Compile("ldap", config.Mapper{}); err == nil || !strings.Contains(err.Error(), `unknown collector kind "ldap"`) {
		t.Errorf("unknown kind: %v", err)
	}
	// Every error is reported, not only the first.
	_, err := hrWith(config.Mapping{Source: "Foo(", MapTo: "a", Line: 1}, config.Mapping{Source: "x", MapTo: "b[", Line: 2})
	if err == nil || !strings.Contains(err.Error(), "line 1:") || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("joined errors: %v", err)
	}
}

// Source data of the wrong type gives an error naming the mapping, never a panic.
func TestWrongSourceTypes(t *testing.T) {
	raw := map[string]any{"first": "A", "last": "B", "obj": map[string]any{"a": "b"}, "arr": []any{"x"}, "s": "text"}
	for src, msg := range map[string]string{
		"LowerCase(obj)":          "LowerCase: expected text, got a object",
		"Join(arr)":               "Join: argument 1: expected text, got a array",
		"s.child":                 `source "s.child": s is a string, not an object`,
		"obj.[0]":                 `source "obj.[0]": obj is a object, not an array`,
		"FirstN(s, s)":            `FirstN: expected a whole number, got "text"`,
		`ElementNumber(s, "", 1)`: "the separator is empty",
	} {
		_, err := mapOne(t, src, raw)
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), `(map_to "title")`) {
			t.Errorf("%s: %v\nwant it to contain %q", src, err, msg)
		}
	}
}

// Attribute names are case-insensitive: targets spelled differently land in one attribute, under the first
// spelling.
func TestTargetSpelling(t *testing.T) {
	m, err := hrWith(config.Mapping{Source: "a", MapTo: "Name.givenName"}, config.Mapping{Source: "b", MapTo: "name.FamilyName"},
		config.Mapping{Source: "c", MapTo: `Emails[Type eq "WORK"].value`}, config.Mapping{Source: "d", MapTo: `emails[type eq "work"].display`})
	if err != nil {
		t.Fatal(err)
	}
	u, err := m.Map(context.Background(), map[string]any{"id": "1", "a": "A", "b": "B", "c": "c@x", "d": "C"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	delete(u, "schemas")
	want := map[string]any{"userName": "1", "Name": map[string]any{"givenName": "A", "FamilyName": "B"},
		"Emails": []any{map[string]any{"Type": "WORK", "value": "c@x", "display": "C"}}}
	if !scim.Equal(u, want) {
		t.Fatalf("got %v", u)
	}
}

// Scalars mapped to SCIM string attributes are strings, booleans to active are booleans; what cannot become the
// attribute's type is a mapping error naming it.
func TestSCIMTypesOfTargets(t *testing.T) {
	m, err := hrWith(config.Mapping{Source: "id", MapTo: "userName"}, config.Mapping{Source: "id", MapTo: "externalId"},
		config.Mapping{Source: "zip", MapTo: `addresses[type eq "work"].postalCode`},
		config.Mapping{Source: "cc", MapTo: scim.EnterpriseUserSchema + ":costCenter"},
		config.Mapping{Source: "status", MapTo: "active"}, config.Mapping{Source: "n", MapTo: "customNumber"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := m.Map(context.Background(), map[string]any{"id": 1003.0, "zip": 8001.0, "cc": 4711.5, "status": "false", "n": 7.0},
		Options{New: true, Owner: "o", Unique: NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := u.Get(scim.EnterpriseUserSchema + ":costCenter")
	zip, _ := u.Get(`addresses[type eq "work"].postalCode`)
	if u["userName"] != "1003" || u["externalId"] != "1003" || zip != "8001" || cc != "4711.5" || u["active"] != false || u["customNumber"] != 7.0 {
		t.Fatalf("types: %#v", u)
	}
	for _, bad := range []map[string]any{{"id": map[string]any{"a": 1.0}}, {"id": "1", "status": "maybe"}} {
		if _, err := m.Map(context.Background(), bad, Options{New: true, Owner: "o", Unique: NewMemory()}); err == nil ||
			!strings.Contains(err.Error(), "SCIM") {
			t.Errorf("%v: want a mapping error naming the SCIM type, got %v", bad, err)
		}
	}
}
