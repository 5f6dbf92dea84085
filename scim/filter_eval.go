package scim

import (
	"fmt"
	"strings"
	"time"
)

// fltAttrPath is an attribute reference as filters and PATCH paths write it: an optional schema URN, an attribute
// name and an optional sub-attribute (urn:…:enterprise:2.0:User:manager.value, name.familyName, userName).
// It is private to the filter and PATCH code; package scim's public path type is for mapping targets.
type fltAttrPath struct {
	URN  string // schema URN of an extension, "" for core attributes
	Name string
	Sub  string
}

// GroupSchema is the core group schema URN (RFC 7643 §4.2); an attribute qualified with a core schema URN is a
// core attribute, at the top level of the resource.
const GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"

func fltParseAttrPath(s string) (fltAttrPath, error) {
	var p fltAttrPath
	rest := s
	if strings.HasPrefix(strings.ToLower(s), "urn:") {
		i := strings.LastIndexByte(s, ':')
		p.URN, rest = s[:i], s[i+1:]
		if strings.EqualFold(p.URN, CoreUserSchema) || strings.EqualFold(p.URN, GroupSchema) {
			p.URN = ""
		}
	}
	name, sub, dotted := strings.Cut(rest, ".")
	if name == "" || !fltValidAttrName(name) {
		return p, fmt.Errorf("invalid attribute name %q in %q", name, s)
	}
	if dotted && (sub == "" || !fltValidAttrName(sub)) {
		return p, fmt.Errorf("invalid sub-attribute %q in %q", sub, s)
	}
	p.Name, p.Sub = name, sub
	return p, nil
}

// fltValidAttrName follows RFC 7643 ATTRNAME (ALPHA *(nameChar)), allowing "$ref".
func fltValidAttrName(s string) bool {
	if s == "$ref" {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !alpha {
			return false
		}
		if !alpha && !(c >= '0' && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return s != ""
}

func (p fltAttrPath) String() string {
	s := p.Name
	if p.URN != "" {
		s = p.URN + ":" + s
	}
	if p.Sub != "" {
		s += "." + p.Sub
	}
	return s
}

func (p fltAttrPath) withoutSub() fltAttrPath { p.Sub = ""; return p }

// caseExact: RFC 7643 makes id and externalId case-exact; other strings compare case-insensitively.
func (p fltAttrPath) caseExact() bool {
	return p.URN == "" && p.Sub == "" && (p.Name == "id" || p.Name == "externalId")
}

// container returns the object holding the attribute (the resource, or its extension object).
func (p fltAttrPath) container(res map[string]any) map[string]any {
	if p.URN == "" {
		return res
	}
	ext, _ := fltLookup(res, p.URN).(map[string]any)
	return ext
}

// fltLookup finds a key case-insensitively (attribute names are case-insensitive, RFC 7643 §2.1).
func fltLookup(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// fltLookupKey returns the spelling of key that m uses, or key itself when absent.
func fltLookupKey(m map[string]any, key string) (string, bool) {
	if _, ok := m[key]; ok {
		return key, true
	}
	for k := range m {
		if strings.EqualFold(k, key) {
			return k, true
		}
	}
	return key, false
}

// elements returns the values of the (usually multi-valued) attribute without descending into Sub.
func (p fltAttrPath) elements(res map[string]any) []any {
	c := p.container(res)
	if c == nil {
		return nil
	}
	switch v := fltLookup(c, p.Name).(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

// values returns every value the path designates, flattening multi-valued attributes: emails.value yields
// each e-mail address.
func (p fltAttrPath) values(res map[string]any) []any {
	els := p.elements(res)
	if p.Sub == "" {
		return els
	}
	var out []any
	for _, el := range els {
		m, ok := el.(map[string]any)
		if !ok {
			continue
		}
		switch v := fltLookup(m, p.Sub).(type) {
		case nil:
		case []any:
			out = append(out, v...)
		default:
			out = append(out, v)
		}
	}
	return out
}

func fltPresent(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		for _, e := range x {
			if fltPresent(e) {
				return true
			}
		}
		return false
	}
	return true
}

func fltCompareAny(values []any, op string, want any, caseExact bool) bool {
	if want == nil {
		// eq null: the attribute is absent or has no value.
		for _, v := range values {
			if fltPresent(v) {
				return false
			}
		}
		return op == "eq"
	}
	for _, v := range values {
		if m, ok := v.(map[string]any); ok {
			// A complex value compared directly is compared by its "value" sub-attribute
			// (members eq "id", emails co "@x").
			v = fltLookup(m, "value")
		}
		if fltCompareOne(v, op, want, caseExact) {
			return true
		}
	}
	return false
}

func fltCompareOne(have any, op string, want any, caseExact bool) bool {
	switch w := want.(type) {
	case bool:
		var h bool
		switch x := have.(type) {
		case bool:
			h = x
		case string: // Entra sends booleans as "True"/"False" strings
			switch strings.ToLower(x) {
			case "true":
				h = true
			case "false":
			default:
				return false
			}
		default:
			return false
		}
		return op == "eq" && h == w
	case float64:
		var h float64
		switch x := have.(type) {
		case float64:
			h = x
		case int:
			h = float64(x)
		case int64:
			h = float64(x)
		default:
			return false
		}
		switch op {
		case "eq":
			return h == w
		case "gt":
			return h > w
		case "ge":
			return h >= w
		case "lt":
			return h < w
		case "le":
			return h <= w
		}
		return false
	case string:
		var h string
		switch x := have.(type) {
		case string:
			h = x
		case bool:
			// A boolean attribute compared with a string literal ("true"): compare case-insensitively.
			h = fmt.Sprint(x)
			caseExact = false
		default:
			return false
		}
		switch op {
		case "gt", "ge", "lt", "le":
			c := fltCompareOrdered(h, w, caseExact)
			switch op {
			case "gt":
				return c > 0
			case "ge":
				return c >= 0
			case "lt":
				return c < 0
			default:
				return c <= 0
			}
		}
		if !caseExact {
			h, w = strings.ToLower(h), strings.ToLower(w)
		}
		switch op {
		case "eq":
			return h == w
		case "co":
			return strings.Contains(h, w)
		case "sw":
			return strings.HasPrefix(h, w)
		case "ew":
			return strings.HasSuffix(h, w)
		}
	}
	return false
}

// fltCompareOrdered compares two strings as date-times when both are RFC 3339 (meta.created ge "2010-01-01T00:00:00Z"),
// otherwise lexically.
func fltCompareOrdered(a, b string, caseExact bool) int {
	if ta, err := time.Parse(time.RFC3339Nano, a); err == nil {
		if tb, err := time.Parse(time.RFC3339Nano, b); err == nil {
			return ta.Compare(tb)
		}
	}
	if !caseExact {
		a, b = strings.ToLower(a), strings.ToLower(b)
	}
	return strings.Compare(a, b)
}
