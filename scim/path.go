package scim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Schema URNs of the core user and of the enterprise extension (RFC 7643 §4.1, §4.3).
const (
	CoreUserSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	EnterpriseUserSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// knownSchemas are recognised by prefix so that the documentation's variant with a dot after the schema
// ("…:2.0:User.department") addresses the same attribute as RFC 7644's colon form ("…:2.0:User:department").
var knownSchemas = []string{EnterpriseUserSchema, CoreUserSchema}

// Path is a parsed attribute path: `userName`, `name.givenName`, `emails[type eq "work"].value`,
// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
type Path struct {
	// URN is the extension schema holding the attribute, "" for core attributes (a core schema prefix is
	// dropped). The extension's attributes live in the user under the URN as a JSON object.
	URN string
	// Elems are the attribute and its sub-attributes, outermost first; at least one.
	Elems []PathElem
}

// PathElem is one attribute name with an optional value selector.
type PathElem struct {
	Name string
	// Select, when set, picks the elements of a multi-valued attribute whose Attr equals Value
	// (`[type eq "work"]`); strings compare case-insensitively.
	Select *Selector
}

// Selector is the `[attr eq value]` part of a path. Only `eq` is accepted: a path must say which single element
// a value goes to, so that setting creates the element when it is missing.
type Selector struct {
	Attr  string
	Value any // string, float64, bool or nil
}

// PathError is a path that does not parse: Column is 1-based, in characters.
type PathError struct {
	Path   string
	Column int
	Msg    string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("attribute path %q: column %d: %s", e.Path, e.Column, e.Msg)
}

// ParsePath parses an attribute path. Attribute names are letters, digits, '_', '-' and '$' (the first a letter,
// '_' or '$'); selector strings take straight or typographic quotes (" “ ”), as the product documentation mixes them.
func ParsePath(s string) (Path, error) {
	var p Path
	rest, off := s, 0
	if !utf8.ValidString(s) {
		i := 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return Path{}, &PathError{Path: s, Column: utf8.RuneCountInString(s[:i]) + 1, Msg: "the path is not valid UTF-8 text"}
	}
	for _, k := range knownSchemas {
		if strings.EqualFold(s, k) { // the extension object itself
			return Path{Elems: []PathElem{{Name: k}}}, nil
		}
	}
	if len(s) >= 4 && strings.EqualFold(s[:4], "urn:") {
		urn, n, err := splitURN(s)
		if err != nil {
			return Path{}, err
		}
		if !strings.EqualFold(urn, CoreUserSchema) {
			p.URN = urn
		}
		rest, off = s[n:], n
	}
	pp := pathParser{src: s, s: rest, off: off}
	elems, err := pp.elems()
	if err != nil {
		return Path{}, err
	}
	p.Elems = elems
	return p, nil
}

// MustParsePath is ParsePath for paths written in code; it panics on a malformed literal.
func MustParsePath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// splitURN returns the schema URN of a path starting with "urn:" and the offset of the attribute after the ':'
// or '.' that ends it. Known schemas match by prefix; for others the attribute follows the last ':' before any
// selector (RFC 7644 §3.10).
func splitURN(s string) (string, int, error) {
	for _, k := range knownSchemas {
		if len(s) > len(k)+1 && strings.EqualFold(s[:len(k)], k) && (s[len(k)] == ':' || s[len(k)] == '.') {
			return k, len(k) + 1, nil
		}
	}
	end := len(s)
	if i := strings.IndexByte(s, '['); i >= 0 {
		end = i
	}
	i := strings.LastIndexByte(s[:end], ':')
	if i < 4 || i == len(s)-1 {
		return "", 0, &PathError{Path: s, Column: utf8.RuneCountInString(s) + 1, Msg: "expected an attribute after the schema URN, e.g. urn:…:2.0:User:department"}
	}
	return s[:i], i + 1, nil
}

type pathParser struct {
	src string // whole path, for errors
	s   string
	off int // offset of s in src
	i   int
}

func (p *pathParser) fail(msg string) error {
	return &PathError{Path: p.src, Column: utf8.RuneCountInString(p.src[:p.off+p.i]) + 1, Msg: msg}
}

func (p *pathParser) elems() ([]PathElem, error) {
	var out []PathElem
	for {
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		e := PathElem{Name: name}
		if p.i < len(p.s) && p.s[p.i] == '[' {
			p.i++
			sel, err := p.selector()
			if err != nil {
				return nil, err
			}
			e.Select = sel
		}
		out = append(out, e)
		if p.i == len(p.s) {
			return out, nil
		}
		if p.s[p.i] != '.' {
			return nil, p.fail(fmt.Sprintf("expected '.' or '[' or the end of the path, found %q", p.rune()))
		}
		p.i++
	}
}

func (p *pathParser) rune() string {
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	return string(r)
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' || c == '-' }

func (p *pathParser) name() (string, error) {
	start := p.i
	if p.i >= len(p.s) || !isNameStart(p.s[p.i]) {
		if p.i >= len(p.s) {
			return "", p.fail("expected an attribute name, found the end of the path")
		}
		return "", p.fail(fmt.Sprintf("expected an attribute name, found %q", p.rune()))
	}
	for p.i < len(p.s) && isNameChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *pathParser) spaces() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *pathParser) selector() (*Selector, error) {
	p.spaces()
	attr, err := p.name()
	if err != nil {
		return nil, err
	}
	p.spaces()
	if p.i+2 > len(p.s) || !strings.EqualFold(p.s[p.i:p.i+2], "eq") {
		return nil, p.fail(`expected "eq": a path selects one element, e.g. emails[type eq "work"].value`)
	}
	p.i += 2
	p.spaces()
	v, err := p.literal()
	if err != nil {
		return nil, err
	}
	p.spaces()
	if p.i >= len(p.s) || p.s[p.i] != ']' {
		return nil, p.fail("expected ']' after the selector value")
	}
	p.i++
	return &Selector{Attr: attr, Value: v}, nil
}

// quote characters accepted around strings: the documentation mixes straight and typographic quotes.
func isQuote(r rune) bool { return r == '"' || r == '“' || r == '”' }

func (p *pathParser) literal() (any, error) {
	if p.i >= len(p.s) {
		return nil, p.fail(`expected a value such as "work", found the end of the path`)
	}
	if r, n := utf8.DecodeRuneInString(p.s[p.i:]); isQuote(r) {
		p.i += n
		start, escaped := p.i, false
		for p.i < len(p.s) {
			r, n := utf8.DecodeRuneInString(p.s[p.i:])
			if isQuote(r) {
				raw := p.s[start:p.i]
				p.i += n
				if !escaped {
					return raw, nil
				}
				// Escapes are JSON's (RFC 7644 filter strings are JSON strings).
				var v string
				if err := json.Unmarshal([]byte(`"`+raw+`"`), &v); err != nil {
					p.i = start
					return nil, p.fail(fmt.Sprintf("invalid escape in string %q: use JSON escapes such as \\\" or \\u00e9", raw))
				}
				return v, nil
			}
			if r == '\\' {
				escaped = true
				n = 1
				if p.i+1 < len(p.s) {
					_, n = utf8.DecodeRuneInString(p.s[p.i+1:])
					n++
				}
			}
			p.i += n
		}
		return nil, p.fail("string is not closed: expected a closing quote")
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ']' && p.s[p.i] != ' ' {
		p.i++
	}
	word := p.s[start:p.i]
	switch strings.ToLower(word) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if f, err := strconv.ParseFloat(word, 64); err == nil {
		return f, nil
	}
	p.i = start
	return nil, p.fail(fmt.Sprintf(`expected a quoted string, a number, true, false or null, found %q`, word))
}

// String is the canonical form: RFC 7644 colon form for extensions, straight quotes in selectors.
func (p Path) String() string {
	var b strings.Builder
	if p.URN != "" {
		b.WriteString(p.URN)
		b.WriteByte(':')
	}
	for i, e := range p.Elems {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.Name)
		if e.Select != nil {
			b.WriteString(selectorString(e.Select.Attr, e.Select.Value))
		}
	}
	return b.String()
}

func selectorString(attr string, v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	// Typographic quotes delimit strings too, so inside a value they are escaped.
	lit := strings.NewReplacer("“", `\u201c`, "”", `\u201d`).Replace(strings.TrimSuffix(b.String(), "\n"))
	return "[" + attr + " eq " + lit + "]"
}

// elems returns the path as a walk from the user's root: the extension URN is the first attribute.
func (p Path) walk() []PathElem {
	if p.URN == "" {
		return p.Elems
	}
	return append([]PathElem{{Name: p.URN}}, p.Elems...)
}

// matches reports whether a multi-valued attribute's element is selected.
func (s *Selector) matches(elem any) bool {
	m, ok := elem.(map[string]any)
	if !ok {
		return false
	}
	k, ok := lookupKey(m, s.Attr)
	if !ok {
		return s.Value == nil
	}
	if a, ok := m[k].(string); ok {
		if b, ok := s.Value.(string); ok {
			return strings.EqualFold(a, b)
		}
	}
	return Equal(m[k], s.Value)
}
