package scim

import (
	"fmt"
	"strings"
)

// fltElementMatches applies a value filter to one value of a multi-valued attribute.
func fltElementMatches(f fltFilterNode, el any) bool {
	m, ok := el.(map[string]any)
	if !ok {
		m = map[string]any{"value": el}
	}
	return f.match(m)
}

// Projection selects the attributes of a resource that a query returns (RFC 7644 §3.4.2.5 attributes and
// excludedAttributes). id and schemas are always returned.
type Projection struct {
	include []fltProjected
	exclude []fltProjected
}

// fltProjected is one attributes entry. Besides RFC 7644's attribute paths it may carry a value filter
// (emails[type eq "work"]), which Microsoft's reference server accepts: only the matching values are returned.
type fltProjected struct {
	fltAttrPath
	filter fltFilterNode
}

// ParseProjection reads the comma-separated attributes and excludedAttributes query parameters (either may be
// empty). An attribute name that is not well-formed is an error; one the resource does not have is not.
func ParseProjection(attributes, excluded string) (Projection, error) {
	var p Projection
	var err error
	if p.include, err = parseAttrList(attributes); err != nil {
		return p, err
	}
	p.exclude, err = parseAttrList(excluded)
	return p, err
}

func parseAttrList(s string) ([]fltProjected, error) {
	var out []fltProjected
	for _, part := range splitAttrList(s) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "[") {
			pp, err := parsePatchPath(part)
			if err != nil {
				return nil, fmt.Errorf("attribute %q: %s", part, err.(*PatchError).Msg)
			}
			a := pp.attr
			if pp.sub != "" {
				a.Sub = pp.sub
			}
			out = append(out, fltProjected{fltAttrPath: a, filter: pp.filter})
			continue
		}
		a, err := fltParseAttrPath(part)
		if err != nil {
			return nil, err
		}
		out = append(out, fltProjected{fltAttrPath: a})
	}
	return out, nil
}

// splitAttrList splits at commas outside brackets and quotes.
func splitAttrList(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted:
			i++
		case c == '[' && !quoted:
			depth++
		case c == ']' && !quoted && depth > 0:
			depth--
		case c == ',' && !quoted && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// Apply returns the projected copy of res (res itself when the projection selects everything).
func (p Projection) Apply(res map[string]any) map[string]any {
	if len(p.include) == 0 && len(p.exclude) == 0 {
		return res
	}
	var out map[string]any
	if len(p.include) > 0 {
		out = map[string]any{}
		for _, k := range []string{"id", "schemas"} {
			if key, ok := fltLookupKey(res, k); ok {
				out[key] = res[key]
			}
		}
		for _, a := range p.include {
			copyAttr(out, res, a.fltAttrPath, a.filter)
		}
	} else {
		out, _ = CloneValue(res).(map[string]any)
	}
	for _, a := range p.exclude {
		if a.URN == "" && a.Sub == "" && (strings.EqualFold(a.Name, "id") || strings.EqualFold(a.Name, "schemas")) {
			continue
		}
		dropAttr(out, a.fltAttrPath, a.filter)
	}
	return out
}

// copyAttr copies the attribute a designates from src into dst, keeping only the sub-attribute a.Sub of
// complex values (members.value keeps each member's value).
func copyAttr(dst, src map[string]any, a fltAttrPath, filter fltFilterNode) {
	from := src
	to := dst
	if a.URN != "" {
		urnKey, ok := fltLookupKey(src, a.URN)
		if !ok {
			return
		}
		ext, ok := src[urnKey].(map[string]any)
		if !ok {
			return
		}
		from = ext
		next, _ := dst[urnKey].(map[string]any)
		if next == nil {
			next = map[string]any{}
			dst[urnKey] = next
		}
		to = next
	}
	key, ok := fltLookupKey(from, a.Name)
	if !ok {
		return
	}
	v := from[key]
	if filter != nil {
		arr, _ := v.([]any)
		var kept []any
		for _, el := range arr {
			if fltElementMatches(filter, el) {
				kept = append(kept, el)
			}
		}
		if kept == nil {
			return
		}
		v = kept
	}
	if a.Sub == "" {
		to[key] = CloneValue(v)
		return
	}
	pick := func(el any, into map[string]any) map[string]any {
		m, ok := el.(map[string]any)
		if !ok {
			return into
		}
		sk, ok := fltLookupKey(m, a.Sub)
		if !ok {
			return into
		}
		if into == nil {
			into = map[string]any{}
		}
		into[sk] = CloneValue(m[sk])
		return into
	}
	switch x := v.(type) {
	case map[string]any:
		existing, _ := to[key].(map[string]any)
		if got := pick(x, existing); got != nil {
			to[key] = got
		}
	case []any:
		// Several sub-attributes of one multi-valued attribute (members.value, members.display) merge
		// element by element.
		existing, _ := to[key].([]any)
		out := make([]any, len(x))
		for i, el := range x {
			var prev map[string]any
			if i < len(existing) {
				prev, _ = existing[i].(map[string]any)
			}
			if got := pick(el, prev); got != nil {
				out[i] = got
			} else {
				out[i] = map[string]any{}
			}
		}
		to[key] = out
	}
}

func dropAttr(res map[string]any, a fltAttrPath, filter fltFilterNode) {
	c := a.container(res)
	if c == nil {
		return
	}
	key, ok := fltLookupKey(c, a.Name)
	if !ok {
		return
	}
	if filter != nil {
		arr, _ := c[key].([]any)
		var kept []any
		for _, el := range arr {
			if !fltElementMatches(filter, el) {
				kept = append(kept, el)
			} else if a.Sub != "" {
				if m, ok := el.(map[string]any); ok {
					if sk, ok := fltLookupKey(m, a.Sub); ok {
						delete(m, sk)
					}
				}
				kept = append(kept, el)
			}
		}
		if kept == nil {
			delete(c, key)
		} else {
			c[key] = kept
		}
		return
	}
	if a.Sub == "" {
		delete(c, key)
		return
	}
	switch x := c[key].(type) {
	case map[string]any:
		if sk, ok := fltLookupKey(x, a.Sub); ok {
			delete(x, sk)
		}
	case []any:
		for _, el := range x {
			if m, ok := el.(map[string]any); ok {
				if sk, ok := fltLookupKey(m, a.Sub); ok {
					delete(m, sk)
				}
			}
		}
	}
}

// SortKey returns the value a resource sorts by for sortBy (RFC 7644 §3.4.2.3): the attribute's value, for a
// multi-valued attribute the primary value or else the first. nil when absent or attr is not well-formed.
func SortKey(res map[string]any, attr string) any {
	a, err := fltParseAttrPath(attr)
	if err != nil {
		return nil
	}
	els := a.elements(res)
	if len(els) == 0 {
		return nil
	}
	el := els[0]
	for _, e := range els {
		if m, ok := e.(map[string]any); ok && fltLookup(m, "primary") == true {
			el = e
			break
		}
	}
	m, isMap := el.(map[string]any)
	switch {
	case a.Sub != "" && isMap:
		return fltLookup(m, a.Sub)
	case a.Sub != "":
		return nil
	case isMap:
		return fltLookup(m, "value")
	}
	return el
}

// CompareSortKeys orders two SortKey values: numbers numerically, strings case-insensitively (date-times in
// time order), and absent values last.
func CompareSortKeys(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if fa, ok := fltNumber(a); ok {
		if fb, ok := fltNumber(b); ok {
			switch {
			case fa < fb:
				return -1
			case fa > fb:
				return 1
			}
			return 0
		}
	}
	sa, aok := a.(string)
	sb, bok := b.(string)
	if aok && bok {
		return fltCompareOrdered(sa, sb, false)
	}
	if ba, ok := a.(bool); ok {
		if bb, ok := b.(bool); ok {
			switch {
			case ba == bb:
				return 0
			case !ba:
				return -1
			}
			return 1
		}
	}
	return 0
}

// EqualityTest reports whether the filter is a single eq comparison on a core attribute with a string value
// (userName eq "bjensen"): servers answer those with a lookup instead of a scan.
func (f Filter) EqualityTest() (attr, value string, ok bool) {
	c, isCmp := f.root.(*fltCompareNode)
	if !isCmp || c.op != "eq" || c.attr.URN != "" || c.attr.Sub != "" {
		return "", "", false
	}
	s, isStr := c.value.(string)
	return c.attr.Name, s, isStr
}

func fltNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}
