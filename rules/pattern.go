package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// MatchTimeout bounds one regex match: regexp2 backtracks, so a pathological pattern such as (a+)+$ could
// otherwise stall a collection. A match that times out is no answer: RouteErr and MatchErr report it (TimeoutError).
const MatchTimeout = 100 * time.Millisecond

// pattern is the compiled argument of -match. Most patterns in practice are a literal, a prefix ("App1_.*"), a
// substring (".*Consultant.*") or everything (".*"); those are answered with string functions that give exactly
// the regex engine's answer (fuzzed against it), and everything else runs on regexp2.
type pattern struct {
	src  string
	kind patternKind
	lit  string
	alts []string // patOneOf
	re   *regexp2.Regexp
}

type patternKind int

const (
	patRegex    patternKind = iota
	patAny                  // ".*": any value without a line break
	patEqual                // a literal: the whole value
	patPrefix               // "lit.*"
	patSuffix               // ".*lit", and the glob "*lit"
	patContains             // ".*lit.*", and the glob "*lit*"
	patOneOf                // "(lit1|lit2|…)" or "lit1|lit2|…": equal to one of them
)

// compilePattern applies the anchoring rule: the regex must match the whole value (\A(?:p)\z), except a pattern
// made only of look-around groups, such as (?!Sync_.*), which is a test of the value read from its start
// (\A(?:p)). A pattern that starts with '*' can never be a regex (a quantifier with nothing to repeat); it is read
// as a glob in which '*' stands for any text and everything else is literal, so the documentation's
// "*@mycompany.com" means "ends with @mycompany.com".
func compilePattern(src string) (*pattern, error) {
	if strings.HasPrefix(src, "*") {
		return compileGlob(src)
	}
	if _, err := regexp2.Compile(src, regexp2.None); err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v", src, regexErr(err))
	}
	anchored := `\A(?:` + src + `)\z`
	if lookaroundOnly(src) {
		anchored = `\A(?:` + src + `)`
	}
	re, err := regexp2.Compile(anchored, regexp2.None)
	if err != nil {
		// Only a pattern that ends inside a (?x) comment or similar gets here: the wrapper changed its meaning.
		return nil, fmt.Errorf("regular expression %q cannot be anchored to the whole value: %v", src, regexErr(err))
	}
	re.MatchTimeout = MatchTimeout
	p := &pattern{src: src, kind: patRegex, re: re}
	p.fastPath()
	if p.kind == patRegex {
		if err := probe(src, re); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func regexErr(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, "error parsing regexp: ")
}

func compileGlob(src string) (*pattern, error) {
	parts := strings.Split(src, "*")
	quoted := make([]string, len(parts))
	for i, part := range parts {
		quoted[i] = regexp2.Escape(part)
	}
	// (?s): a glob's '*' is any text, line breaks included.
	re, err := regexp2.Compile(`(?s)\A`+strings.Join(quoted, ".*")+`\z`, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("glob %q: %v", src, regexErr(err))
	}
	re.MatchTimeout = MatchTimeout
	p := &pattern{src: src, kind: patRegex, re: re}
	// parts[0] is "" (src starts with '*').
	switch {
	case len(parts) == 2:
		p.kind, p.lit = patSuffix, parts[1]
	case len(parts) == 3 && parts[2] == "":
		p.kind, p.lit = patContains, parts[1]
	}
	if p.kind != patRegex && p.lit == "" {
		p.kind = patRegex // "*" and "**": let the engine say "anything"
	}
	return p, nil
}

// fastPath recognises the common shapes of a regex whose answer a string function gives exactly.
func (p *pattern) fastPath() {
	s := p.src
	switch {
	case s == ".*":
		p.kind = patAny
	case isLiteral(s):
		p.kind, p.lit = patEqual, s
	case strings.HasPrefix(s, ".*") && strings.HasSuffix(s, ".*") && len(s) > 4 && isLiteral(s[2:len(s)-2]):
		p.kind, p.lit = patContains, s[2:len(s)-2]
	case strings.HasSuffix(s, ".*") && isLiteral(s[:len(s)-2]) && len(s) > 2:
		p.kind, p.lit = patPrefix, s[:len(s)-2]
	case strings.HasPrefix(s, ".*") && isLiteral(s[2:]) && len(s) > 2:
		p.kind, p.lit = patSuffix, s[2:]
	default:
		// (Dog Trainer|Project Manager): the documentation's way to list values.
		inner := s
		if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") && !strings.HasPrefix(s, "(?") {
			inner = s[1 : len(s)-1]
		}
		alts := strings.Split(inner, "|")
		if len(alts) < 2 {
			return
		}
		for _, a := range alts {
			if !isLiteral(a) {
				return
			}
		}
		p.kind, p.alts = patOneOf, alts
	}
}

// isLiteral: no character that means anything to the regex engine (without options, white space and '#' are
// literal too, but '#' is left to the engine in case of inline options).
func isLiteral(s string) bool {
	return s != "" && !strings.ContainsAny(s, `\.^$|?*+()[]{}#`) && !strings.ContainsRune(s, '\n')
}

// match reports whether the whole value matches. In the regex fast paths '.' does not match '\n' (as in the
// engine); in globs '*' does.
func (p *pattern) match(v string) bool {
	glob := strings.HasPrefix(p.src, "*")
	switch p.kind {
	case patAny:
		return !strings.Contains(v, "\n")
	case patEqual:
		return v == p.lit
	case patPrefix:
		return strings.HasPrefix(v, p.lit) && !strings.Contains(v, "\n")
	case patSuffix:
		return strings.HasSuffix(v, p.lit) && (glob || !strings.Contains(v, "\n"))
	case patContains:
		return strings.Contains(v, p.lit) && (glob || !strings.Contains(v, "\n"))
	case patOneOf:
		for _, a := range p.alts {
			if v == a {
				return true
			}
		}
		return false
	}
	ok, err := p.re.MatchString(v)
	return ok && err == nil
}

// matchBuf is match with a caller-owned rune buffer for the regex engine, which otherwise converts every value
// to a new []rune; Route reuses one buffer for all the values of a call.
func (p *pattern) matchBuf(v string, buf *scratch) bool {
	if p.kind != patRegex || buf == nil {
		return p.match(v)
	}
	b := buf.runes[:0]
	for _, r := range v {
		b = append(b, r)
	}
	buf.runes = b
	ok, err := p.re.MatchRunes(b)
	if err != nil {
		buf.fail(p, err) // no answer: the caller's routing fails (TimeoutError)
	}
	return ok && err == nil
}

// lookaroundOnly reports whether the pattern is one or more look-around groups ((?=…), (?!…), (?<=…), (?<!…))
// and nothing else. It is called on patterns that already compiled, so groups are balanced.
func lookaroundOnly(s string) bool {
	i, groups := 0, 0
	for i < len(s) {
		if !(strings.HasPrefix(s[i:], "(?=") || strings.HasPrefix(s[i:], "(?!") ||
			strings.HasPrefix(s[i:], "(?<=") || strings.HasPrefix(s[i:], "(?<!")) {
			return false
		}
		end := closingParen(s, i)
		if end < 0 {
			return false
		}
		i = end + 1
		groups++
	}
	return groups > 0
}

// closingParen returns the index of the ')' closing the '(' at open, skipping escapes and character classes.
func closingParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '[':
			i++
			if i < len(s) && s[i] == '^' {
				i++
			}
			if i < len(s) && s[i] == ']' {
				i++ // a ']' first in a class is literal
			}
			for i < len(s) && s[i] != ']' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
