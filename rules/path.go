package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/scim-stream/scim-stream/scim"
)

// MessageFields are the top-level message fields a filter may test. They describe the change, not the user, so
// they are judged on the current change only (see Router.Route). A field the change does not carry tests as "".
var MessageFields = []string{"activityOperation", "activityDateTime", "initiatedById", "initiatedByUpn", "targetId", "targetUpn"}

type pathKind int

const (
	fieldPath  pathKind = iota // a top-level message field
	userPath                   // any user attribute
	groupsPath                 // user.groups…: selects group elements
	rolesPath                  // user.roles…: selects role elements
)

// path is a compiled attribute path of a term.
type path struct {
	src  string
	kind pathKind
	// field is the message field's canonical name (fieldPath).
	field string
	// segs are the dot-separated names after "user." (userPath); joins[i][k-1] is segs[i:i+k] joined with dots,
	// because an attribute name or a type may itself contain dots (the enterprise URN "…:2.0:User").
	segs  []string
	joins [][]string
	// sel picks groups/roles by type or application object id ("" = all); attr is the element's attribute tested,
	// spelled as in elementAttrs, and attrIdx its index there when a view caches it (-1 otherwise).
	sel, attr string
	attrIdx   int
}

// elementAttrs are the sub-attributes of group and role elements: `user.roles.value` tests every role's value,
// while any other single name is a role type, so `user.roles.App1` means `user.roles.App1.value`. The first
// numElemAttrs are the ones Route reads once per element (see elemTable).
var elementAttrs = []string{"value", "display", "type", "appId", "primary", "$ref"}

const (
	attrValue = iota
	attrDisplay
	attrType
	attrAppID
	numElemAttrs
)

func compilePath(src string) (*path, error) {
	for _, f := range MessageFields {
		if strings.EqualFold(src, f) {
			return &path{src: src, kind: fieldPath, field: f}, nil
		}
	}
	segs := strings.Split(src, ".")
	if !strings.EqualFold(segs[0], "user") {
		return nil, fmt.Errorf("unknown path %q: use user.<attribute> (e.g. user.title, user.groups.display, user.roles.App1.value) or a message field (%s)", src, strings.Join(MessageFields, ", "))
	}
	if rest := strings.TrimPrefix(src[len(segs[0]):], "."); len(rest) > 4 && strings.EqualFold(rest[:4], "urn:") {
		// An extension attribute: the schema URN has dots and colons of its own, and the attribute may follow it
		// after ':' (RFC 7644) or '.' (the documentation); scim.ParsePath knows the schemas.
		if sp, err := scim.ParsePath(rest); err == nil && sp.URN != "" {
			segs = []string{segs[0], sp.URN}
			for _, e := range sp.Elems {
				if e.Select != nil {
					return nil, fmt.Errorf("path %q: use user.<attribute>.<type>.<attribute> rather than a [selector]", src)
				}
				segs = append(segs, e.Name)
			}
		}
	}
	segs = segs[1:]
	if len(segs) == 0 {
		return nil, fmt.Errorf("path %q names no attribute: use user.<attribute>, e.g. user.title", src)
	}
	for i, s := range segs {
		if s == "" || strings.TrimSpace(s) != s {
			return nil, fmt.Errorf("path %q: attribute name %d is empty or has surrounding spaces", src, i+1)
		}
	}
	p := &path{src: src, kind: userPath, segs: segs}
	switch {
	case strings.EqualFold(segs[0], "groups"):
		p.kind = groupsPath
	case strings.EqualFold(segs[0], "roles"):
		p.kind = rolesPath
	}
	if p.kind != userPath {
		rest := segs[1:]
		switch {
		case len(rest) == 0:
			p.attr = "value"
		case len(rest) == 1 && isElementAttr(rest[0]):
			p.attr = rest[0]
		case len(rest) == 1:
			p.sel, p.attr = rest[0], "value"
		default:
			p.sel, p.attr = strings.Join(rest[:len(rest)-1], "."), rest[len(rest)-1]
		}
		p.attrIdx = -1
		for i, a := range elementAttrs {
			if strings.EqualFold(a, p.attr) {
				// One spelling: an element holding both "value" and "Value" is read the same way by Route and Match.
				p.attr = a
				if i < numElemAttrs {
					p.attrIdx = i
				}
			}
		}
		return p, nil
	}
	p.joins = make([][]string, len(segs))
	for i := range segs {
		for k := 1; i+k <= len(segs); k++ {
			p.joins[i] = append(p.joins[i], strings.Join(segs[i:i+k], "."))
		}
	}
	return p, nil
}

func isElementAttr(s string) bool {
	for _, a := range elementAttrs {
		if strings.EqualFold(a, s) {
			return true
		}
	}
	return false
}

// groupsKey and rolesKey find the user's groups/roles attribute as the filter would (names are
// case-insensitive in SCIM).
func elementsOf(u scim.User, name string) (string, []any) {
	k, ok := lookup(u, name)
	if !ok {
		return "", nil
	}
	arr, _ := u[k].([]any)
	return k, arr
}

// selects reports whether a group/role element passes the path's type selector and has a tested value that
// satisfies pat.
func (p *path) selects(elem any, pat *pattern, buf *scratch) bool {
	m, ok := elem.(map[string]any)
	if !ok {
		return false
	}
	if p.sel != "" && !hasSelector(m, p.sel) {
		return false
	}
	return p.selectsAttr(m, pat, buf)
}

// selectsAttr reports whether the element's tested attribute satisfies pat (the selector aside).
func (p *path) selectsAttr(m map[string]any, pat *pattern, buf *scratch) bool {
	k, ok := lookup(m, p.attr)
	if !ok {
		return false
	}
	s, ok := scalar(m[k])
	return ok && pat.matchBuf(s, buf)
}

// hasSelector: a role type is the application's name (user.roles.Application 1.value); an Entra role also
// carries the application object id (user.roles.a12f063b-….value).
func hasSelector(m map[string]any, sel string) bool {
	for _, a := range [...]string{"type", "appId"} {
		if k, ok := lookup(m, a); ok {
			if s, ok := m[k].(string); ok && strings.EqualFold(s, sel) {
				return true
			}
		}
	}
	return false
}

// anyValue walks a user path and reports whether some scalar value at its end satisfies pat. Arrays fan out:
// at an array, a name equal to an element's type (or appId) selects those elements (user.emails.work.value,
// user.addresses.work.postalCode), otherwise the name is an attribute of every element (user.emails.value).
// A typed selection without a following name tests the element's value (user.emails.work).
func (p *path) anyValue(v any, i int, pat *pattern, sc *scratch) bool {
	switch x := v.(type) {
	case map[string]any:
		return p.inMap(x, i, pat, sc)
	case scim.User:
		return p.inMap(x, i, pat, sc)
	case []any:
		for _, e := range x {
			if i < len(p.segs) {
				if m, ok := e.(map[string]any); ok {
					if n := p.typeMatch(m, i); n > 0 {
						next := i + n
						if next == len(p.segs) {
							if k, ok := lookup(m, "value"); ok && p.anyValue(m[k], next, pat, sc) {
								return true
							}
							continue
						}
						if p.anyValue(m, next, pat, sc) {
							return true
						}
						continue
					}
				}
			}
			if p.anyValue(e, i, pat, sc) {
				return true
			}
		}
		return false
	}
	if i < len(p.segs) {
		return false
	}
	s, ok := scalar(v)
	return ok && pat.matchSc(s, sc)
}

func (p *path) inMap(m map[string]any, i int, pat *pattern, sc *scratch) bool {
	if i >= len(p.segs) {
		return false // a complex value is not text
	}
	for k, name := range p.joins[i] {
		if key, ok := lookup(m, name); ok {
			return p.anyValue(m[key], i+k+1, pat, sc)
		}
	}
	return false
}

// typeMatch returns how many path names, joined with dots, equal the element's type or appId (0: none).
func (p *path) typeMatch(m map[string]any, i int) int {
	for k, name := range p.joins[i] {
		if hasSelector(m, name) {
			return k + 1
		}
	}
	return 0
}

// lookup finds a key exactly, else case-insensitively (SCIM attribute names are case-insensitive).
func lookup(m map[string]any, name string) (string, bool) {
	if _, ok := m[name]; ok {
		return name, true
	}
	var found []string
	for k := range m {
		if strings.EqualFold(k, name) {
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return "", false
	}
	sort.Strings(found) // deterministic if a map holds two spellings
	return found[0], true
}

// scalar is the text a regex sees: strings as they are, numbers in their shortest form, booleans as true/false.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}
