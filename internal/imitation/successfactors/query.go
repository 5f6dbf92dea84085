package successfactors

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// tree is a parsed $expand or $select: navigation (or property) names, each with its own sub-tree. A nil tree
// selects everything and expands nothing.
type tree struct {
	kids map[string]*tree
}

func parseTree(s string) *tree {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	t := &tree{kids: map[string]*tree{}}
	for _, path := range strings.Split(s, ",") {
		n := t
		for _, seg := range strings.Split(strings.TrimSpace(path), "/") {
			c := n.kids[seg]
			if c == nil {
				c = &tree{kids: map[string]*tree{}}
				n.kids[seg] = c
			}
			n = c
		}
	}
	return t
}

// child is the expansion below name, or nil when name is not expanded.
func (t *tree) child(name string) *tree {
	if t == nil {
		return nil
	}
	return t.kids[name]
}

// selects reports whether a $select keeps name: no selection, or name listed (a listed leaf keeps everything
// below it).
func (t *tree) selects(name string) bool {
	return t == nil || len(t.kids) == 0 || t.kids[name] != nil
}

// validateExpand checks that every expanded name is a navigation property of its entity.
func validateExpand(t *tree, typ, path string) error {
	if t == nil {
		return nil
	}
	for name, kid := range t.kids {
		if _, ok := navs[typ][name]; !ok {
			return badRequest("Invalid $expand: %s%s is not a navigation property of %s", path, name, typ)
		}
		if err := validateExpand(kid, navTarget[name], path+name+"/"); err != nil {
			return err
		}
	}
	return nil
}

// A filter is a disjunction of conjunctions of comparisons ("a and b or c"), which is what SuccessFactors
// integrations send; parentheses and functions are rejected with 400 like any unsupported expression.
type filter [][]comparison

type comparison struct {
	path []string
	op   string
	val  any // nil, string, float64, bool, time.Time
}

func parseFilter(s string) (filter, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	var f filter
	var and []comparison
	for i := 0; i < len(toks); {
		if i+3 > len(toks) {
			return nil, badRequest("Invalid $filter %q: expected <property> <op> <value> at %q", s, strings.Join(toks[i:], " "))
		}
		op := strings.ToLower(toks[i+1])
		switch op {
		case "eq", "ne", "gt", "ge", "lt", "le":
		default:
			return nil, badRequest("Invalid $filter %q: unsupported operator %q", s, toks[i+1])
		}
		v, err := literal(toks[i+2])
		if err != nil {
			return nil, badRequest("Invalid $filter %q: %v", s, err)
		}
		and = append(and, comparison{path: strings.Split(toks[i], "/"), op: op, val: v})
		i += 3
		if i == len(toks) {
			break
		}
		switch strings.ToLower(toks[i]) {
		case "and":
		case "or":
			f, and = append(f, and), nil
		default:
			return nil, badRequest("Invalid $filter %q: expected and/or at %q", s, toks[i])
		}
		i++
		if i == len(toks) {
			return nil, badRequest("Invalid $filter %q: dangling %s", s, toks[i-1])
		}
	}
	return append(f, and), nil
}

// tokenize splits on spaces outside quotes.
func tokenize(s string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				toks = append(toks, cur.String())
				cur.Reset()
			}
		case (r == '(' || r == ')') && !quoted:
			return nil, badRequest("Invalid $filter %q: parentheses and functions are not supported by this imitation", s)
		default:
			cur.WriteRune(r)
		}
	}
	if quoted {
		return nil, badRequest("Invalid $filter %q: unterminated string", s)
	}
	if cur.Len() > 0 {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

func literal(s string) (any, error) {
	switch {
	case s == "null":
		return nil, nil
	case s == "true" || s == "false":
		return s == "true", nil
	case strings.HasPrefix(s, "datetime'") || strings.HasPrefix(s, "datetimeoffset'"):
		v := s[strings.IndexByte(s, '\'')+1 : len(s)-1]
		for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04", "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, fmt.Errorf("bad datetime literal %s", s)
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(s, "L"), "M"), 64)
	if err != nil {
		return nil, fmt.Errorf("bad literal %s", s)
	}
	return n, nil
}

func (f filter) match(e *entity) bool {
	if len(f) == 0 {
		return true
	}
	for _, and := range f {
		ok := true
		for _, c := range and {
			if !c.match(e) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// match follows the path; across a navigation collection it is true when any target matches (SuccessFactors'
// semantics for filters on expanded collections such as employmentNav/startDate).
func (c comparison) match(e *entity) bool {
	if len(c.path) > 1 {
		for _, t := range e.nav[c.path[0]] {
			if (comparison{path: c.path[1:], op: c.op, val: c.val}).match(t) {
				return true
			}
		}
		return false
	}
	v, ok := e.props[c.path[0]]
	if !ok {
		return false
	}
	if o, isOff := v.(offset); isOff {
		v = time.Time(o)
	}
	if c.val == nil || v == nil {
		switch c.op {
		case "eq":
			return v == nil && c.val == nil
		case "ne":
			return (v == nil) != (c.val == nil)
		}
		return false
	}
	cmp, ok := compare(v, c.val)
	if !ok {
		return false
	}
	switch c.op {
	case "eq":
		return cmp == 0
	case "ne":
		return cmp != 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	default:
		return cmp <= 0
	}
}

func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case time.Time:
		y, ok := b.(time.Time)
		return x.Compare(y), ok
	case string:
		y, ok := b.(string)
		return strings.Compare(x, y), ok
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		if x == y {
			return 0, true
		}
		return 1, true
	case int:
		y, ok := b.(float64)
		return cmpFloat(float64(x), y), ok
	}
	return 0, false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
