package gateway

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"

	"github.com/scim-stream/scim-stream/scim"
)

// groupRef names a group in a message: by value (the endpoint's group id or name) and display.
type groupRef struct {
	Value   string
	Display string
}

// refOf reads a group or role element: {value, display} as the stream publishes it, or {id, displayName} as in
// the product documentation's example.
func refOf(v any) (groupRef, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return groupRef{}, false
	}
	r := groupRef{Value: firstString(m, "value", "id"), Display: firstString(m, "display", "displayName")}
	if r.Value == "" {
		r.Value = r.Display
	}
	if r.Display == "" {
		r.Display = r.Value
	}
	return r, r.Value != ""
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// roleGroup converts a role to the group that stands for it: value = role value, display "<type> - <display>".
func roleGroup(v any) (groupRef, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return groupRef{}, false
	}
	value := firstString(m, "value")
	if value == "" {
		return groupRef{}, false
	}
	display := firstString(m, "display")
	if display == "" {
		display = value
	}
	if t := firstString(m, "type"); t != "" {
		display = t + " - " + display
	}
	return groupRef{Value: value, Display: display}, true
}

// replaceDomains rewrites the domain of userName and of every emails[].value whose domain equals a rule's from
// (compared case-insensitively, the whole domain: "@a.com" does not touch "x@sub.a.com" or "x@a.com.evil").
func replaceDomains(u map[string]any, rules []ReplaceDomain) {
	if len(rules) == 0 || u == nil {
		return
	}
	swap := func(addr string) string {
		at := strings.LastIndexByte(addr, '@')
		if at < 0 {
			return addr
		}
		for _, r := range rules {
			if strings.EqualFold(addr[at:], r.From) {
				return addr[:at] + r.To
			}
		}
		return addr
	}
	if s, ok := u["userName"].(string); ok {
		u["userName"] = swap(s)
	}
	if arr, ok := u["emails"].([]any); ok {
		for _, e := range arr {
			if m, ok := e.(map[string]any); ok {
				if s, ok := m["value"].(string); ok {
					m["value"] = swap(s)
				}
			}
		}
	}
}

// boolOf reads a SCIM boolean that may arrive as a string ("False", as Entra sends it).
func boolOf(v any) (b, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

const (
	pwLower   = "abcdefghijkmnopqrstuvwxyz"
	pwUpper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	pwDigits  = "23456789"
	pwSpecial = "!#%+-=?_"
)

// newPassword returns a random 20-character password with every character class, which satisfies common
// complexity policies (Active Directory's included).
func newPassword() string {
	classes := []string{pwLower, pwUpper, pwDigits, pwSpecial}
	all := strings.Join(classes, "")
	b := make([]byte, 20)
	for i := range b {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		b[i] = set[randInt(len(set))]
	}
	for i := len(b) - 1; i > 0; i-- { // shuffle so the class positions are not fixed
		j := randInt(i + 1)
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return int(v.Int64())
}

// deepMerge returns base with over's attributes laid on top (objects merged attribute by attribute).
func deepMerge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = deepMerge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// removedAttr turns a remove Operation on a plain attribute into a null in the soft-sync changes, so that an
// attribute cleared at the source is cleared at the endpoint too. Paths with a value filter are left alone:
// their multi-valued attribute arrives whole in the message and replaces the old one.
func removedAttr(changes scim.User, path string) {
	p, err := scim.ParsePath(path)
	if err != nil || len(p.Elems) > 2 {
		return
	}
	for _, e := range p.Elems {
		if e.Select != nil {
			return
		}
	}
	parent := map[string]any(changes)
	if p.URN != "" {
		ext, ok := changes[p.URN].(map[string]any)
		if !ok {
			if _, present := changes[p.URN]; !present {
				changes[p.URN] = map[string]any{p.Elems[0].Name: nil}
			}
			return
		}
		parent = ext
	}
	top := p.Elems[0].Name
	if len(p.Elems) == 1 {
		if _, present := parent[top]; !present {
			parent[top] = nil
		}
		return
	}
	sub, present := parent[top]
	switch m := sub.(type) {
	case map[string]any:
		if _, has := m[p.Elems[1].Name]; !has {
			m[p.Elems[1].Name] = nil
		}
	case nil:
		if !present {
			parent[top] = map[string]any{p.Elems[1].Name: nil}
		}
	}
}
