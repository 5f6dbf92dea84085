package rules

import (
	"fmt"
	"strings"
	"unicode"
)

// Term is one parenthesised condition of a filter, as written. Parse returns the syntax only, so the mapper can
// read its `-most_current` rule with the same grammar; Compile gives terms their meaning.
type Term struct {
	// Path is the attribute path ("user.groups.display", "initiatedByUpn"); empty for (.*).
	Path string
	// Op is the operator without its dash, in lower case ("match", "most_current"); empty for (.*).
	Op string
	// Arg is the quoted argument with \" unescaped; every other backslash is kept for the regex.
	Arg string
	// Exclude is the -exclude flag.
	Exclude bool
	// All is the (.*) term: everything matches.
	All bool
	// Column is the 1-based column of the opening parenthesis; PathColumn, OpColumn and ArgColumn locate the parts.
	Column, PathColumn, OpColumn, ArgColumn int
}

// Parse reads a filter: one or more terms joined by "and", such as
//
//	(user.groups.display -match "App4.*") and (user.title -match "(Dog Trainer|Project Manager)")
//
// Paths may contain spaces (`user.roles.Application 1.value`); the operator is the first word that starts with a
// dash after white space. Quotes may be straight or typographic (" “ ”), as the documentation mixes them.
func Parse(s string) ([]Term, error) {
	p := &parser{r: []rune(s)}
	p.space()
	if p.eof() {
		return nil, p.errAt(0, "filter is empty: write a term such as (user.title -match \"Consultant\"), or (.*) for everyone")
	}
	var terms []Term
	for {
		if p.r[p.i] != '(' {
			return nil, p.errf("expected '(' to start a term such as (user.title -match \"Consultant\"), found %q", p.r[p.i])
		}
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		p.space()
		if p.eof() {
			return terms, nil
		}
		at := p.i
		word := p.word()
		switch strings.ToLower(word) {
		case "and":
			p.space()
			if p.eof() {
				return nil, p.errf("'and' must be followed by another term in parentheses")
			}
		case "or":
			return nil, p.errAt(at, "'or' is not supported inside a filter: write each alternative as its own `- filter:` entry (several filters are OR-ed)")
		default:
			return nil, p.errAt(at, "expected 'and' or the end of the filter after ')'")
		}
	}
}

type parser struct {
	r []rune
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.r) }

func (p *parser) space() {
	for !p.eof() && unicode.IsSpace(p.r[p.i]) {
		p.i++
	}
}

func (p *parser) word() string {
	start := p.i
	for !p.eof() && (unicode.IsLetter(p.r[p.i]) || p.r[p.i] == '_') {
		p.i++
	}
	return string(p.r[start:p.i])
}

func (p *parser) errAt(i int, msg string) error {
	col := i + 1
	if len(p.r) == 0 {
		col = 0
	}
	return &Error{Column: col, Msg: msg}
}

func (p *parser) errf(format string, args ...any) error {
	return p.errAt(p.i, fmt.Sprintf(format, args...))
}

func isQuote(r rune) bool { return r == '"' || r == '“' || r == '”' }

// term reads one parenthesised term; p.i is at '('.
func (p *parser) term() (Term, error) {
	t := Term{Column: p.i + 1}
	open := p.i
	p.i++
	p.space()
	start := p.i
	depth := 0
	op := -1
	for j := start; op < 0; j++ {
		if j >= len(p.r) {
			return t, p.errAt(open, "missing ')' to close this term")
		}
		switch c := p.r[j]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ')':
			body := strings.TrimSpace(string(p.r[start:j]))
			switch body {
			case ".*":
				t.All = true
				p.i = j + 1
				return t, nil
			case "":
				return t, p.errAt(open, "empty term: write (<path> -match \"<regex>\"), or (.*) for everyone")
			}
			return t, p.errAt(start, fmt.Sprintf("%q has no operator: write (%s -match \"<regex>\")", body, body))
		case isQuote(c):
			return t, p.errAt(j, "a quoted expression needs a path and an operator before it: (<path> -match \"<regex>\")")
		case c == '-' && (j == start || unicode.IsSpace(p.r[j-1])) && j+1 < len(p.r) && unicode.IsLetter(p.r[j+1]):
			op = j
		}
	}
	t.Path = strings.TrimSpace(string(p.r[start:op]))
	t.PathColumn = start + 1
	if t.Path == "" {
		return t, p.errAt(op, "missing attribute path before the operator, e.g. (user.title -match \"Consultant\")")
	}
	p.i = op + 1
	t.OpColumn = op + 1
	t.Op = strings.ToLower(p.word())
	switch t.Op {
	case "match", "most_current":
	case "exclude":
		return t, p.errAt(op, "-exclude goes after the quoted expression: (<path> -match \"<regex>\" -exclude)")
	default:
		return t, p.errAt(op, fmt.Sprintf("unknown operator -%s: use -match", t.Op))
	}
	p.space()
	if p.eof() || !isQuote(p.r[p.i]) {
		return t, p.errf("expected a quoted expression after -%s, e.g. -%s \"App1.*\"", t.Op, t.Op)
	}
	t.ArgColumn = p.i + 1
	arg, err := p.quoted()
	if err != nil {
		return t, err
	}
	t.Arg = arg
	for {
		p.space()
		if p.eof() {
			return t, p.errAt(open, "missing ')' to close this term")
		}
		switch p.r[p.i] {
		case ')':
			p.i++
			return t, nil
		case '-':
			at := p.i
			p.i++
			switch flag := strings.ToLower(p.word()); {
			case flag == "exclude" && !t.Exclude:
				t.Exclude = true
			case flag == "exclude":
				return t, p.errAt(at, "-exclude is given twice")
			default:
				return t, p.errAt(at, fmt.Sprintf("unknown flag -%s: the only flag is -exclude", flag))
			}
		default:
			return t, p.errf("expected ')' or -exclude after the quoted expression")
		}
	}
}

// quoted reads a quoted string at p.i. \" stands for a quote; any other backslash is kept, because the string is
// a regular expression and `\.` must reach the regex engine as written.
func (p *parser) quoted() (string, error) {
	open := p.i
	p.i++
	var b strings.Builder
	for !p.eof() {
		c := p.r[p.i]
		switch {
		case c == '\\' && p.i+1 < len(p.r):
			if isQuote(p.r[p.i+1]) {
				b.WriteRune(p.r[p.i+1])
			} else {
				b.WriteRune(c)
				b.WriteRune(p.r[p.i+1])
			}
			p.i += 2
			continue
		case isQuote(c):
			p.i++
			return b.String(), nil
		}
		b.WriteRune(c)
		p.i++
	}
	return "", p.errAt(open, "unterminated quoted expression: add the closing quote")
}
