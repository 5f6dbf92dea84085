package scim

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Filter is a parsed SCIM filter (RFC 7644 §3.4.2.2): comparisons eq ne co sw ew gt ge lt le, pr, the logical
// operators and, or, not(...), parentheses and value paths such as emails[type eq "work" and value co "@x"].
// The zero Filter matches everything.
type Filter struct {
	root fltFilterNode
	src  string
}

// FilterError is a syntax error in a filter, with the byte offset where parsing stopped. The SCIM server answers
// it with 400 invalidFilter.
type FilterError struct {
	Filter string
	Pos    int
	Msg    string
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("scim filter %q: at offset %d: %s", e.Filter, e.Pos, e.Msg)
}

// fltMaxFilterDepth bounds nesting so that a hostile filter cannot exhaust the stack.
const fltMaxFilterDepth = 64

// ParseFilter parses a SCIM filter expression. Keywords and operators are case-insensitive.
func ParseFilter(s string) (Filter, error) {
	if strings.TrimSpace(s) == "" {
		return Filter{}, &FilterError{Filter: s, Msg: "empty filter"}
	}
	p := &fltFilterParser{src: s}
	if err := p.lex(); err != nil {
		return Filter{}, err
	}
	n, err := p.parseOr(0, false)
	if err != nil {
		return Filter{}, err
	}
	if t := p.peek(); t.kind != fltTokEOF {
		return Filter{}, p.errf(t.pos, "unexpected %s", t)
	}
	return Filter{root: n, src: s}, nil
}

// MustParseFilter is ParseFilter for filters written in code; it panics on a syntax error.
func MustParseFilter(s string) Filter {
	f, err := ParseFilter(s)
	if err != nil {
		panic(err)
	}
	return f
}

// String returns the filter as it was parsed.
func (f Filter) String() string { return f.src }

// Match reports whether the resource (a SCIM JSON object) satisfies the filter.
func (f Filter) Match(resource map[string]any) bool {
	if f.root == nil {
		return true
	}
	return f.root.match(resource)
}

// Canonical renders the parsed tree with explicit parentheses; two filters with the same meaning as trees
// render the same. Tests use it to check that the parser reads what it printed.
func (f Filter) Canonical() string {
	if f.root == nil {
		return ""
	}
	var b strings.Builder
	f.root.write(&b)
	return b.String()
}

type fltFilterNode interface {
	match(res map[string]any) bool
	write(b *strings.Builder)
}

type fltLogicalNode struct {
	or          bool
	left, right fltFilterNode
}

func (n *fltLogicalNode) match(res map[string]any) bool {
	if n.or {
		return n.left.match(res) || n.right.match(res)
	}
	return n.left.match(res) && n.right.match(res)
}

func (n *fltLogicalNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.left.write(b)
	if n.or {
		b.WriteString(" or ")
	} else {
		b.WriteString(" and ")
	}
	n.right.write(b)
	b.WriteByte(')')
}

type fltNotNode struct{ inner fltFilterNode }

func (n *fltNotNode) match(res map[string]any) bool { return !n.inner.match(res) }

func (n *fltNotNode) write(b *strings.Builder) {
	b.WriteString("not (")
	n.inner.write(b)
	b.WriteByte(')')
}

type fltCompareNode struct {
	attr  fltAttrPath
	op    string // eq ne co sw ew gt ge lt le pr
	value any    // string, float64, bool or nil
}

func (n *fltCompareNode) match(res map[string]any) bool {
	values := n.attr.values(res)
	if n.op == "pr" {
		for _, v := range values {
			if fltPresent(v) {
				return true
			}
		}
		return false
	}
	if n.op == "ne" {
		// ne is the negation of eq over the whole attribute: a multi-valued attribute with one equal value is
		// not "not equal".
		return !fltCompareAny(values, "eq", n.value, n.attr.caseExact())
	}
	return fltCompareAny(values, n.op, n.value, n.attr.caseExact())
}

func (n *fltCompareNode) write(b *strings.Builder) {
	b.WriteString(n.attr.String())
	b.WriteByte(' ')
	b.WriteString(n.op)
	if n.op != "pr" {
		b.WriteByte(' ')
		b.WriteString(fltLiteral(n.value))
	}
}

// fltValuePathNode is attr[filter] optionally followed by .sub op value: it matches when one element of the
// multi-valued attribute satisfies the inner filter (and, with a sub-attribute, the comparison).
type fltValuePathNode struct {
	attr  fltAttrPath
	inner fltFilterNode
	then  *fltCompareNode // optional: comparison on a sub-attribute of the matching element
}

func (n *fltValuePathNode) match(res map[string]any) bool {
	for _, el := range n.attr.elements(res) {
		m, ok := el.(map[string]any)
		if !ok {
			// A multi-valued attribute of simple values: the inner filter addresses the value itself.
			m = map[string]any{"value": el}
		}
		if !n.inner.match(m) {
			continue
		}
		if n.then == nil || n.then.match(m) {
			return true
		}
	}
	return false
}

func (n *fltValuePathNode) write(b *strings.Builder) {
	b.WriteString(n.attr.String())
	b.WriteByte('[')
	n.inner.write(b)
	b.WriteByte(']')
	if n.then != nil {
		b.WriteByte('.')
		n.then.write(b)
	}
}

func fltLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}

// ---- lexer ----

type fltTokKind int

const (
	fltTokEOF fltTokKind = iota
	fltTokWord
	fltTokString
	fltTokNumber
	fltTokBare // an unquoted run of characters: accepted as a string value only
	fltTokLParen
	fltTokRParen
	fltTokLBracket
	fltTokRBracket
)

type fltToken struct {
	kind fltTokKind
	text string // word text, decoded string, number text
	num  float64
	pos  int
}

func (t fltToken) String() string {
	switch t.kind {
	case fltTokEOF:
		return "end of filter"
	case fltTokString:
		return strconv.Quote(t.text)
	case fltTokLParen:
		return `"("`
	case fltTokRParen:
		return `")"`
	case fltTokLBracket:
		return `"["`
	case fltTokRBracket:
		return `"]"`
	}
	return strconv.Quote(t.text)
}

type fltFilterParser struct {
	src  string
	toks []fltToken
	i    int
}

func (p *fltFilterParser) errf(pos int, format string, args ...any) error {
	return &FilterError{Filter: p.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func fltIsWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '$' || c == ':' || c == '.' ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// fltBareEnd is the end of the run of characters from i up to a space, parenthesis, bracket or quote.
func fltBareEnd(s string, i int) int {
	for i < len(s) && !strings.ContainsRune(" \t\r\n()[]\"", rune(s[i])) {
		i++
	}
	return i
}

func (p *fltFilterParser) lex() error {
	s := p.src
	if !utf8.ValidString(s) {
		return p.errf(0, "filter is not valid UTF-8")
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			p.toks = append(p.toks, fltToken{kind: fltTokLParen, pos: i})
			i++
		case c == ')':
			p.toks = append(p.toks, fltToken{kind: fltTokRParen, pos: i})
			i++
		case c == '[':
			p.toks = append(p.toks, fltToken{kind: fltTokLBracket, pos: i})
			i++
		case c == ']':
			p.toks = append(p.toks, fltToken{kind: fltTokRBracket, pos: i})
			i++
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return p.errf(i, "unterminated string")
			}
			text, err := strconv.Unquote(s[i : j+1])
			if err != nil {
				// JSON escapes that Go's unquote rejects (\/) are the only difference that matters here.
				text, err = strconv.Unquote(strings.ReplaceAll(s[i:j+1], `\/`, `/`))
				if err != nil {
					return p.errf(i, "invalid string literal %s", s[i:j+1])
				}
			}
			if !utf8.ValidString(text) {
				return p.errf(i, "string literal is not valid UTF-8")
			}
			p.toks = append(p.toks, fltToken{kind: fltTokString, text: text, pos: i})
			i = j + 1
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] == '+' || s[j] == '-') {
				j++
			}
			n, err := strconv.ParseFloat(s[i:j], 64)
			if end := fltBareEnd(s, i); err != nil || end != j {
				// Not a number: an unquoted value such as 2015-10-10T14:38:21Z.
				p.toks = append(p.toks, fltToken{kind: fltTokBare, text: s[i:end], pos: i})
				i = end
				continue
			}
			p.toks = append(p.toks, fltToken{kind: fltTokNumber, text: s[i:j], num: n, pos: i})
			i = j
		case fltIsWordByte(c):
			j := i
			for j < len(s) && fltIsWordByte(s[j]) {
				j++
			}
			kind := fltTokWord
			if end := fltBareEnd(s, i); end != j {
				kind, j = fltTokBare, end // an unquoted value such as bjensen@example.com
			}
			p.toks = append(p.toks, fltToken{kind: kind, text: s[i:j], pos: i})
			i = j
		default:
			return p.errf(i, "unexpected character %q", string(rune(c)))
		}
	}
	p.toks = append(p.toks, fltToken{kind: fltTokEOF, pos: len(s)})
	return nil
}

func (p *fltFilterParser) peek() fltToken { return p.toks[p.i] }
func (p *fltFilterParser) next() fltToken {
	t := p.toks[p.i]
	if t.kind != fltTokEOF {
		p.i++
	}
	return t
}

func (p *fltFilterParser) isKeyword(t fltToken, kw string) bool {
	return t.kind == fltTokWord && strings.EqualFold(t.text, kw)
}

// ---- parser: or < and < not/paren/attribute expression ----

func (p *fltFilterParser) parseOr(depth int, inValue bool) (fltFilterNode, error) {
	if depth > fltMaxFilterDepth {
		return nil, p.errf(p.peek().pos, "filter nested deeper than %d levels", fltMaxFilterDepth)
	}
	left, err := p.parseAnd(depth, inValue)
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "or") {
		p.next()
		right, err := p.parseAnd(depth, inValue)
		if err != nil {
			return nil, err
		}
		left = &fltLogicalNode{or: true, left: left, right: right}
	}
	return left, nil
}

func (p *fltFilterParser) parseAnd(depth int, inValue bool) (fltFilterNode, error) {
	left, err := p.parseUnary(depth, inValue)
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "and") {
		p.next()
		right, err := p.parseUnary(depth, inValue)
		if err != nil {
			return nil, err
		}
		left = &fltLogicalNode{left: left, right: right}
	}
	return left, nil
}

func (p *fltFilterParser) parseUnary(depth int, inValue bool) (fltFilterNode, error) {
	t := p.peek()
	switch {
	case p.isKeyword(t, "not") && p.toks[p.i+1].kind == fltTokLParen:
		p.next()
		inner, err := p.parseParen(depth, inValue)
		if err != nil {
			return nil, err
		}
		return &fltNotNode{inner: inner}, nil
	case t.kind == fltTokLParen:
		return p.parseParen(depth, inValue)
	case t.kind == fltTokWord:
		return p.parseAttrExpr(depth, inValue)
	}
	return nil, p.errf(t.pos, "expected an attribute, \"not\" or \"(\", found %s", t)
}

func (p *fltFilterParser) parseParen(depth int, inValue bool) (fltFilterNode, error) {
	open := p.next() // "("
	n, err := p.parseOr(depth+1, inValue)
	if err != nil {
		return nil, err
	}
	if t := p.next(); t.kind != fltTokRParen {
		return nil, p.errf(t.pos, "expected \")\" to close \"(\" at offset %d, found %s", open.pos, t)
	}
	return n, nil
}

var fltCompareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *fltFilterParser) parseAttrExpr(depth int, inValue bool) (fltFilterNode, error) {
	t := p.next()
	attr, err := fltParseAttrPath(t.text)
	if err != nil {
		return nil, p.errf(t.pos, "%v", err)
	}
	if p.peek().kind == fltTokLBracket {
		if inValue {
			return nil, p.errf(p.peek().pos, "a value filter cannot contain another value filter")
		}
		if attr.Sub != "" {
			return nil, p.errf(t.pos, "value filter on sub-attribute %q: use %s[...].%s", attr.String(), attr.withoutSub().String(), attr.Sub)
		}
		open := p.next()
		inner, err := p.parseOr(depth+1, true)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != fltTokRBracket {
			return nil, p.errf(c.pos, "expected \"]\" to close \"[\" at offset %d, found %s", open.pos, c)
		}
		n := &fltValuePathNode{attr: attr, inner: inner}
		// emails[type eq "work"].value eq "x": the lexer reads ".value" as a word because '.' is a word byte.
		if w := p.peek(); w.kind == fltTokWord && strings.HasPrefix(w.text, ".") {
			p.next()
			sub, err := fltParseAttrPath(w.text[1:])
			if err != nil || sub.URN != "" || sub.Sub != "" {
				return nil, p.errf(w.pos, "invalid sub-attribute %q after value filter", w.text)
			}
			cmp, err := p.parseComparison(sub, w)
			if err != nil {
				return nil, err
			}
			n.then = cmp
		}
		return n, nil
	}
	return p.parseComparison(attr, t)
}

func (p *fltFilterParser) parseComparison(attr fltAttrPath, at fltToken) (*fltCompareNode, error) {
	opTok := p.next()
	if opTok.kind != fltTokWord {
		return nil, p.errf(opTok.pos, "expected an operator after %q, found %s", at.text, opTok)
	}
	op := strings.ToLower(opTok.text)
	if op == "pr" {
		return &fltCompareNode{attr: attr, op: op}, nil
	}
	if !fltCompareOps[op] {
		return nil, p.errf(opTok.pos, "unknown operator %q: use eq, ne, co, sw, ew, gt, ge, lt, le or pr", opTok.text)
	}
	v := p.next()
	var value any
	switch v.kind {
	case fltTokString:
		value = v.text
	case fltTokNumber:
		value = v.num
	case fltTokWord:
		switch strings.ToLower(v.text) {
		case "true":
			value = true
		case "false":
			value = false
		case "null":
			value = nil
		default:
			// RFC 7644 wants strings quoted; Microsoft's reference server and some clients send them bare.
			value = v.text
		}
	case fltTokBare:
		value = v.text
	default:
		return nil, p.errf(v.pos, "expected a value after %q, found %s", opTok.text, v)
	}
	switch op {
	case "co", "sw", "ew":
		if _, ok := value.(string); !ok {
			return nil, p.errf(v.pos, "operator %q needs a string value", op)
		}
	case "gt", "ge", "lt", "le":
		switch value.(type) {
		case string, float64:
		default:
			return nil, p.errf(v.pos, "operator %q needs a string, date or number value", op)
		}
	}
	return &fltCompareNode{attr: attr, op: op, value: value}, nil
}
