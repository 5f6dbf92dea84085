package rules

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scim-stream/scim-stream/config"
)

func TestParseShapes(t *testing.T) {
	terms, err := Parse(`  (user.roles.Application 1.value -match "Employees" -exclude)AND( initiatedByUpn  -MATCH “(?!Sync_.*)” ) `)
	if err != nil {
		t.Fatal(err)
	}
	if len(terms) != 2 {
		t.Fatalf("terms = %+v", terms)
	}
	a, b := terms[0], terms[1]
	if a.Path != "user.roles.Application 1.value" || a.Op != "match" || a.Arg != "Employees" || !a.Exclude || a.Column != 3 || a.PathColumn != 4 {
		t.Errorf("first term = %+v", a)
	}
	if b.Path != "initiatedByUpn" || b.Op != "match" || b.Arg != "(?!Sync_.*)" || b.Exclude {
		t.Errorf("second term = %+v", b)
	}
	terms, err = Parse(`(user.title -match "say \"hi\" \.\d")`)
	if err != nil || terms[0].Arg != `say "hi" \.\d` {
		t.Errorf("escapes: %+v %v", terms, err)
	}
	terms, err = Parse(`(user.roles.App (Test).value -match "x")`)
	if err != nil || terms[0].Path != "user.roles.App (Test).value" {
		t.Errorf("parentheses in a role type: %+v %v", terms, err)
	}
}

// TestFilterErrors: every syntax and meaning error names the column of the problem and says how to fix it.
func TestFilterErrors(t *testing.T) {
	cases := []struct {
		filter string
		col    int
		want   string
	}{
		{``, 0, "filter is empty"},
		{`user.title -match "x"`, 1, "expected '('"},
		{`(user.title -match "x"`, 1, "missing ')'"},
		{`(user.title "x")`, 13, "needs a path and an operator"},
		{`(user.title)`, 2, "has no operator"},
		{`()`, 1, "empty term"},
		{`( -match "*@mycompany.com")`, 3, "missing attribute path"},
		{`(user.title -eq "x")`, 13, "unknown operator -eq"},
		{`(user.title -exclude "x")`, 13, "-exclude goes after"},
		{`(user.title -match x)`, 20, "expected a quoted expression"},
		{`(user.title -match "x)`, 20, "unterminated"},
		{`(user.title -match "x" -foo)`, 24, "unknown flag -foo"},
		{`(user.groups.value -match "x" -exclude -exclude)`, 40, "given twice"},
		{`(user.title -match "x" junk)`, 24, "expected ')' or -exclude"},
		{`(user.title -match "x") or (user.title -match "y")`, 25, "several filters are OR-ed"},
		{`(user.title -match "x") and`, 28, "'and' must be followed"},
		{`(user.title -match "x") (user.title -match "y")`, 25, "expected 'and'"},
		{`(title -match "x")`, 2, "unknown path \"title\""},
		{`(user -match "x")`, 2, "names no attribute"},
		{`(user..title -match "x")`, 2, "empty"},
		{`(user.title -match "x" -exclude)`, 1, "-exclude applies to user.groups"},
		{`(user.title -match "(unclosed")`, 20, "invalid regular expression"},
		{`(user.title -match "a)(b")`, 20, "invalid regular expression"},
		{`(user.title -match "+x")`, 20, "invalid regular expression"},
		{`(employmentNav.results -most_current "startDate")`, 24, "mapper rule"},
		{`(user.title -match "é") and (user.x -match "(")`, 44, "invalid regular expression"},
	}
	for _, c := range cases {
		_, err := CompileFilter(c.filter)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %v, want *Error", c.filter, err)
			continue
		}
		if e.Column != c.col || !strings.Contains(e.Msg, c.want) {
			t.Errorf("%q: column %d %q, want column %d containing %q", c.filter, e.Column, e.Msg, c.col, c.want)
		}
	}
}

// TestCompileErrorsNameTheKey: Compile reports every bad filter with its key, line and column.
func TestCompileErrorsNameTheKey(t *testing.T) {
	_, err := Compile([]config.Stream{
		{Channel: "APP1", Rules: []config.Filter{{Filter: "(.*)", Line: 10}}},
		{Channel: "APP2", Rules: []config.Filter{{Filter: `(user.title -match "ok")`, Line: 13}, {Filter: `(user.title -match "(")`, Line: 14}}},
		{Channel: "APP3", Rules: []config.Filter{{Filter: `(user.title -matches "x")`, Line: 17}}},
		{Channel: "APP4"},
	})
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("Compile error %v, want Errors", err)
	}
	want := []string{
		`streams[1].rules[1].filter (channel APP2): line 14, column 20: invalid regular expression "("`,
		`streams[2].rules[0].filter (channel APP3): line 17, column 13: unknown operator -matches: use -match`,
		`streams[3].rules (channel APP4): at least one filter is needed`,
	}
	if len(list) != len(want) {
		t.Fatalf("errors:\n%v", err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, list[i].Error(), w)
		}
	}
}

// TestCatastrophicRegexIsRefused: a backtracking bomb is refused where it is compiled (check and run alike),
// with its column, and Compile names the line; the pattern is among them.
func TestCatastrophicRegexIsRefused(t *testing.T) {
	for _, pat := range []string{`(a+)+b`, `(a|aa)+b`, `(.*a){64}x`, `(\w*\w*\s*)*Q|.*Manager.*`} {
		_, err := CompileFilter(`(user.title -match "` + pat + `")`)
		if err == nil || !strings.Contains(err.Error(), "catastrophic backtracking") || !strings.Contains(err.Error(), "column 20") {
			t.Errorf("%s: want a refusal with its column, got %v", pat, err)
		}
	}
	_, err := Compile([]config.Stream{{Channel: "BOMB", Rules: []config.Filter{{Filter: `(user.groups.display -match "(a+)+b")`, Line: 12}}}})
	if err == nil || !strings.Contains(err.Error(), "line 12") || !strings.Contains(err.Error(), "channel BOMB") {
		t.Fatalf("Compile: want the line and channel, got %v", err)
	}
}

// TestRegexTimeoutIsAnError: a pattern that passes the probes but backtracks on one real value is stopped by the
// match timeout, and the time-out is an error (MatchErr, RouteErr naming the channel), not "no match"; the inputs
// need 2^64 steps, so the timeout is what ends them on any machine.
func TestRegexTimeoutIsAnError(t *testing.T) {
	bomb := strings.Repeat("x", 64)
	f := mustFilter(t, `(user.title -match "(x+x+)+y")`)
	if p := f.terms[0].pat; p.kind != patRegex || p.re.MatchTimeout != MatchTimeout {
		t.Fatalf("kind %d, timeout %v", p.kind, p.re.MatchTimeout)
	}
	if ok, err := f.MatchErr(user(t, `{"title":"`+bomb+`"}`), nil); ok || !IsTimeout(err) {
		t.Fatalf("MatchErr = %v, %v; want a TimeoutError", ok, err)
	}
	if ok, err := f.MatchErr(user(t, `{"title":"xxy"}`), nil); !ok || err != nil {
		t.Fatalf("an ordinary value: %v %v", ok, err)
	}
	r, err := Compile([]config.Stream{
		{Channel: "ALL", Rules: []config.Filter{{Filter: `(.*)`}}},
		{Channel: "BOMB", Rules: []config.Filter{{Filter: `(user.groups.display -match "(x+x+)+y")`}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.RouteErr(nil, user(t, `{"userName":"u","groups":[{"display":"`+bomb+`"}]}`), nil)
	var te *TimeoutError
	if !errors.As(err, &te) || te.Channel != "BOMB" || te.Pattern != "(x+x+)+y" {
		t.Fatalf("RouteErr: want a TimeoutError naming BOMB and the pattern, got %v", err)
	}
	if _, err := r.RouteErr(nil, user(t, `{"userName":"u","groups":[{"display":"xy"}]}`), nil); err != nil {
		t.Fatalf("an ordinary group: %v", err)
	}
}

// FuzzParse: the parser returns terms or an *Error with a column inside the filter; it never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`(user.groups.display -match "App4.*") and (user.title -match "(Dog Trainer|Project Manager)")`,
		`(user.groups.value -match "dc474382" -exclude)`, `(.*)`, `(employmentNav.results -most_current "startDate")`,
		`(user.roles.Entra Application Test.value -match "role-value1")`, `(initiatedByUpn -match "(?!Sync_.*)")`,
		`( -match "*@mycompany.com")`, `(user.title -match "a\"b\\")`, `((((`, `(a -b "`, "(user.x -match \"\u201cx\u201d\")",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := len([]rune(s))
		terms, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Column < 0 || e.Column > n+1 || e.Msg == "" {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
		} else if len(terms) == 0 {
			t.Fatalf("Parse(%q): no terms and no error", s)
		}
		flt, err := CompileFilter(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Column < 0 || e.Column > n+1 {
				t.Fatalf("CompileFilter(%q): bad error %#v", s, err)
			}
			return
		}
		flt.Match(user(t, `{"title":"x","groups":[{"display":"a","value":"b"}],"roles":[{"type":"t","value":"v"}],"emails":[{"type":"work","value":"e"}]}`), Fields{"initiatedByUpn": "u"})
	})
}

// FuzzPatternFastPath: the string-function answers of the common pattern shapes equal the regex engine's.
func FuzzPatternFastPath(f *testing.F) {
	for _, s := range [][2]string{{".*", "a\nb"}, {"App1", "App1"}, {"App1.*", "App10"}, {".*Con.*", "xConx"}, {".*@x.com", "a@x.com"},
		{"*@x.com", "a@x.com"}, {"*mid*", "a\nmid"}, {"a b", "a b"}, {"é.*", "é\n"},
		{"(Dog Trainer|Project Manager)", "Dog Trainer"}, {"a|b", "b"}, {"(a|b)", "ab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, value string) {
		p, err := compilePattern(pat)
		if err != nil || p.kind == patRegex {
			return
		}
		if !utf8Valid(value) {
			return // values come from JSON: always valid UTF-8
		}
		ok, err := p.re.MatchString(value)
		if err != nil {
			return // a timeout is not an answer to compare
		}
		if got := p.match(value); got != ok {
			t.Fatalf("pattern %q on %q: fast path %v, regexp2 %v", pat, value, got, ok)
		}
	})
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
