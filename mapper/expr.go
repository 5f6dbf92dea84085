package mapper

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/scim-stream/scim-stream/scim"
)

// node is one expression: a literal, a source path, a [SCIM attribute] reference or a function call.
type node interface {
	eval(c *evalCtx) (any, error)
}

type literal struct {
	v any // string or bool; numbers stay text so that Increment("01") and Increment(01) keep their width
}

type sourceRef struct{ path *sourcePath }

// scimRef is `[name.givenName]`: the value an earlier mapping put on the user being built.
type scimRef struct {
	text string
	path scim.Path
	off  int
}

type call struct {
	fn   *function
	args []node
	off  int
}

func decodeRune(s string, i int) (rune, int) { return utf8.DecodeRuneInString(s[i:]) }

// quote characters: the documentation mixes straight and typographic quotes, even within one string
// (`" “` and `”."`), so any of them opens and any of them closes.
func isQuote(r rune) bool { return r == '"' || r == '“' || r == '”' }

type parser struct {
	s string
	i int
}

// parseExpr parses a mapping's source: a function call, a [reference], a quoted literal or a source path.
func parseExpr(s string) (node, error) {
	p := &parser{s: s}
	p.spaces()
	if p.i == len(s) {
		return nil, &syntaxError{0, "the source is empty: expected a source attribute or a function such as Join(…)"}
	}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.spaces()
	if p.i < len(s) {
		return nil, &syntaxError{p.i, fmt.Sprintf("unexpected %q after the end of the expression", p.peekRune())}
	}
	return n, nil
}

func (p *parser) spaces() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) peekRune() string {
	r, _ := decodeRune(p.s, p.i)
	return string(r)
}

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' }

func (p *parser) expr() (node, error) {
	p.spaces()
	if p.i >= len(p.s) {
		return nil, &syntaxError{p.i, "expected an argument, found the end of the expression"}
	}
	start := p.i
	r, n := decodeRune(p.s, p.i)
	switch {
	case isQuote(r):
		p.i += n
		var b strings.Builder
		for p.i < len(p.s) {
			r, n := decodeRune(p.s, p.i)
			if isQuote(r) {
				p.i += n
				return literal{b.String()}, nil
			}
			if r == '\\' && p.i+1 < len(p.s) {
				p.i++
				r, n = decodeRune(p.s, p.i)
			}
			b.WriteRune(r)
			p.i += n
		}
		return nil, &syntaxError{start, "the string is not closed: expected a closing quote"}
	case r == '[':
		end := matchBracket(p.s, p.i)
		if end < 0 {
			return nil, &syntaxError{start, "'[' is not closed: expected ']' after the SCIM attribute"}
		}
		inner := p.s[p.i+1 : end]
		path, err := scim.ParsePath(strings.TrimSpace(inner))
		if err != nil {
			col := 0
			if pe, ok := err.(*scim.PathError); ok {
				col = pe.Column - 1
			}
			lead := len(inner) - len(strings.TrimLeft(inner, " "))
			return nil, &syntaxError{p.i + 1 + lead + byteOffset(strings.TrimSpace(inner), col), "expected a SCIM attribute such as [name.givenName]: " + pathMsg(err)}
		}
		p.i = end + 1
		return scimRef{text: strings.TrimSpace(inner), path: path, off: start}, nil
	case r == '-' || r >= '0' && r <= '9':
		p.i++
		for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
			p.i++
		}
		if p.i < len(p.s) && isIdentChar(p.s[p.i]) {
			return nil, &syntaxError{p.i, fmt.Sprintf("expected a number, found %q", p.s[start:p.i+1])}
		}
		if p.s[start:p.i] == "-" {
			return nil, &syntaxError{start, "expected a number after '-'"}
		}
		return literal{p.s[start:p.i]}, nil
	case r < utf8.RuneSelf && isIdentStart(byte(r)):
		j := p.i
		for j < len(p.s) && isIdentChar(p.s[j]) {
			j++
		}
		name := p.s[p.i:j]
		k := j
		for k < len(p.s) && p.s[k] == ' ' {
			k++
		}
		if k < len(p.s) && p.s[k] == '(' {
			return p.call(name, start, k+1)
		}
	}
	// A source path runs to the next ',' or ')' outside brackets and quotes.
	end := p.pathEnd()
	text := strings.TrimRight(p.s[start:end], " \t")
	if text == "" {
		return nil, &syntaxError{start, fmt.Sprintf("expected an argument: a \"text\", a number, a source attribute, a [SCIM attribute] or a function, found %q", p.peekRune())}
	}
	if text == "true" || text == "false" {
		p.i = end
		return literal{text == "true"}, nil
	}
	if end < len(p.s) && p.s[end] == '(' {
		return nil, &syntaxError{start, fmt.Sprintf("%q is not a function; functions are %s", text, functionNames())}
	}
	sp, err := parseSourcePath(text, start)
	if err != nil {
		return nil, err
	}
	p.i = end
	return sourceRef{sp}, nil
}

func (p *parser) pathEnd() int {
	depth := 0
	inQuote := false
	j := p.i
	for j < len(p.s) {
		r, n := decodeRune(p.s, j)
		switch {
		case inQuote:
			if isQuote(r) {
				inQuote = false
			}
		case isQuote(r):
			inQuote = true
		case r == '[' || r == '{':
			depth++
		case r == ']' || r == '}':
			depth--
		case depth <= 0 && (r == ',' || r == ')' || r == '('):
			return j
		}
		j += n
	}
	return j
}

func (p *parser) call(name string, start, argsAt int) (node, error) {
	fn, ok := functions[name]
	if !ok {
		msg := fmt.Sprintf("unknown function %q; functions are %s", name, functionNames())
		for n := range functions {
			if strings.EqualFold(n, name) {
				msg = fmt.Sprintf("unknown function %q: function names are case-sensitive, did you mean %s?", name, n)
			}
		}
		return nil, &syntaxError{start, msg}
	}
	p.i = argsAt
	c := &call{fn: fn, off: start}
	p.spaces()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
	} else {
		for {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.spaces()
			if p.i >= len(p.s) {
				return nil, &syntaxError{p.i, fmt.Sprintf("expected ',' or ')' to close %s(, found the end of the expression", name)}
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return nil, &syntaxError{p.i, fmt.Sprintf("expected ',' or ')' in the arguments of %s, found %q", name, p.peekRune())}
			}
			p.i++
		}
	}
	if err := fn.check(c); err != nil {
		return nil, err
	}
	return c, nil
}

func functionNames() string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func pathMsg(err error) string {
	if pe, ok := err.(*scim.PathError); ok {
		return pe.Msg
	}
	return err.Error()
}

// byteOffset converts a 0-based rune column of s into a byte offset.
func byteOffset(s string, col int) int {
	off := 0
	for i := 0; i < col && off < len(s); i++ {
		_, n := decodeRune(s, off)
		off += n
	}
	return off
}

// column converts a byte offset of s into a 1-based character column.
func column(s string, off int) int {
	if off > len(s) {
		off = len(s)
	}
	return utf8.RuneCountInString(s[:off]) + 1
}

// walk visits every node of an expression tree.
func walk(n node, f func(node)) {
	f(n)
	if c, ok := n.(*call); ok {
		for _, a := range c.args {
			walk(a, f)
		}
	}
}
