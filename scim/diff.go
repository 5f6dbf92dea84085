package scim

import (
	"slices"
	"strings"
)

// Operation kinds (RFC 7644 §3.5.2).
const (
	OpAdd     = "add"
	OpRemove  = "remove"
	OpReplace = "replace"
)

// CreateOnly is the user attribute holding create-only values (map_to: onCreate.<attr>). Diff ignores it: its
// values are applied when a subscriber creates the user and are not changes to an existing one.
const CreateOnly = "onCreate"

// Diff returns the PATCH operations that turn old into new, in a deterministic order (attributes sorted by name;
// removals before additions within an attribute):
//   - an attribute only in new is "add", only in old "remove", in both with a different value "replace";
//   - complex attributes (name, manager, the enterprise extension) are compared sub-attribute by sub-attribute
//     (`name.givenName`, `urn:…:enterprise:2.0:User:manager.value`);
//   - groups, roles and entitlements give one "remove" and one "add" with value arrays of the elements that left
//     and joined;
//   - other multi-valued attributes whose elements have distinct `type`s (emails, phoneNumbers, addresses) are
//     compared per type: a new element is added per sub-attribute (`add emails[type eq "home"].value`), a gone
//     one is removed (`remove emails[type eq "other"]`), a changed one is changed per sub-attribute; without
//     distinct types the attribute is replaced whole;
//   - an extension (urn:…:User) is compared attribute by attribute, also when it appears or disappears.
//
// Arrays compare as multisets (see Equal), null and [] count as absent, and onCreate is ignored. ApplyPatch(old,
// Diff(old, new)) gives new (tested by TestDiffRoundTrip and FuzzDiffRoundTrip).
func Diff(old, new User) []Operation {
	ops := []Operation{} // never nil: a message without changes carries "Operations":[]
	for _, kp := range pairKeys(old, new) {
		k := kp.name()
		if strings.EqualFold(k, CreateOnly) {
			continue
		}
		ov, nv := kp.values(old, new)
		if len(k) > 4 && strings.EqualFold(k[:4], "urn:") {
			// An extension is a container, not an attribute: its attributes are added and removed one by one
			// (a path cannot name the schema itself: "urn:…:2.0:User" reads as attribute User of urn:…:2.0).
			om, ook := ov.(map[string]any)
			nm, nok := nv.(map[string]any)
			if ook && nv == nil || nok && ov == nil {
				ook, nok = true, true
			}
			if ook && nok {
				for _, sp := range pairKeys(om, nm) {
					o, n := sp.values(om, nm)
					ops = diffAttr(ops, k+":"+sp.name(), o, n, true)
				}
				continue
			}
		}
		ops = diffAttr(ops, k, ov, nv, true)
	}
	return ops
}

// keyPair is one attribute of two objects: its key in the old one and in the new one ("" when absent), and the
// name operations use (the new spelling when there is one).
type keyPair struct {
	old, new       string
	hasOld, hasNew bool
}

// name is the attribute name operations use: the new spelling when there is one.
func (p keyPair) name() string {
	if p.hasNew {
		return p.new
	}
	return p.old
}

// values returns the pair's values in a and b (nil when absent).
func (p keyPair) values(a, b map[string]any) (o, n any) {
	if p.hasOld {
		o = a[p.old]
	}
	if p.hasNew {
		n = b[p.new]
	}
	return o, n
}

// pairKeys pairs the keys of a and b that name the same attribute. SCIM names are case-insensitive (RFC 7643
// §2.1), so "Title" in the stored user and "title" after a configuration change are one attribute: exact spellings
// pair first, then the rest case-insensitively. Sorted by name.
func pairKeys(a, b map[string]any) []keyPair {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	inA := len(keys)
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	onlyB := len(keys) - inA
	onlyA := inA - (len(b) - onlyB)
	slices.Sort(keys)
	pairs := make([]keyPair, 0, len(keys))
	if onlyA == 0 || onlyB == 0 {
		// Every key is spelled alike on both sides (the usual case): nothing to pair case-insensitively.
		for _, k := range keys {
			_, hasOld := a[k]
			_, hasNew := b[k]
			pairs = append(pairs, keyPair{old: k, new: k, hasOld: hasOld, hasNew: hasNew})
		}
		return pairs
	}
	var rest []string // keys of a without an exact match in b, sorted
	for _, k := range keys {
		if _, ok := b[k]; !ok {
			rest = append(rest, k)
		}
	}
	for _, k := range keys {
		_, hasOld := a[k]
		_, hasNew := b[k]
		switch {
		case hasOld && hasNew:
			pairs = append(pairs, keyPair{old: k, new: k, hasOld: true, hasNew: true})
		case hasNew:
			p := keyPair{new: k, hasNew: true}
			if i := slices.IndexFunc(rest, func(o string) bool { return strings.EqualFold(o, k) }); i >= 0 {
				p.old, p.hasOld = rest[i], true
				rest = slices.Delete(rest, i, i+1)
			}
			pairs = append(pairs, p)
		}
	}
	for _, k := range rest {
		pairs = append(pairs, keyPair{old: k, hasOld: true})
	}
	slices.SortFunc(pairs, func(x, y keyPair) int { return strings.Compare(x.name(), y.name()) })
	return pairs
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// diffAttr compares one attribute; top says whether it is an attribute (whose sub-attributes may be addressed)
// rather than a sub-attribute (which is replaced whole).
func diffAttr(ops []Operation, path string, o, n any, top bool) []Operation {
	// An empty multi-valued attribute is unassigned, like null (RFC 7643 §2.5): a channel's view stating "no
	// groups" as [] is no change from a user without the attribute.
	if a, ok := n.([]any); ok && len(a) == 0 {
		n = nil
	}
	if a, ok := o.([]any); ok && len(a) == 0 && n == nil {
		o = nil // (from [] to values is a replace: an add would merge duplicates away)
	}
	if top && isValueArray(attrName(path)) {
		// Memberships change element by element, also to and from none: "remove roles" without a value would
		// take every role the subscriber's endpoint has, not only the ones this user lost.
		oa, ook := o.([]any)
		na, nok := n.([]any)
		if (ook || o == nil) && (nok || n == nil) {
			if ook && nok && Equal(oa, na) {
				return ops
			}
			return diffValues(ops, path, oa, na)
		}
	}
	switch {
	case o == nil && n == nil:
		return ops
	case o == nil:
		return append(ops, Operation{Op: OpAdd, Path: path, Value: CloneValue(n)})
	case n == nil:
		return append(ops, Operation{Op: OpRemove, Path: path})
	case Equal(o, n):
		return ops
	}
	if !top {
		return append(ops, Operation{Op: OpReplace, Path: path, Value: CloneValue(n)})
	}
	if om, ok := o.(map[string]any); ok {
		if nm, ok := n.(map[string]any); ok {
			pairs := pairKeys(om, nm)
			if !addressable(om) || !addressable(nm) {
				// A source object copied whole (e.g. Graph's "@odata.type"): its keys cannot be paths. Replacing a
				// complex attribute merges into it (RFC 7644 §3.5.2.3), so it is removed and added again.
				return append(ops, Operation{Op: OpRemove, Path: path}, Operation{Op: OpAdd, Path: path, Value: CloneValue(n)})
			}
			for _, sp := range pairs {
				o, n := sp.values(om, nm)
				ops = diffAttr(ops, path+"."+sp.name(), o, n, false)
			}
			return ops
		}
	}
	oa, ook := o.([]any)
	na, nok := n.([]any)
	if ook && nok {
		if ot, ok := typed(oa); ok {
			if nt, ok := typed(na); ok && elementsAddressable(oa) && elementsAddressable(na) {
				return diffTyped(ops, path, oa, ot, na, nt)
			}
		}
	}
	return append(ops, Operation{Op: OpReplace, Path: path, Value: CloneValue(n)})
}

// isValueArray: groups, roles or entitlements, in any spelling.
func isValueArray(name string) bool {
	return strings.EqualFold(name, "groups") || strings.EqualFold(name, "roles") || strings.EqualFold(name, "entitlements")
}

// attrName is the attribute a top-level path names (without an extension's URN).
func attrName(path string) string {
	if i := strings.LastIndexByte(path, ':'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// diffValues: the elements that left, then the elements that joined.
func diffValues(ops []Operation, path string, o, n []any) []Operation {
	removed := minus(o, n)
	added := minus(n, o)
	if len(removed) > 0 {
		ops = append(ops, Operation{Op: OpRemove, Path: path, Value: removed})
	}
	if len(added) > 0 {
		ops = append(ops, Operation{Op: OpAdd, Path: path, Value: added})
	}
	return ops
}

// minus returns copies of the elements of a that b lacks, counting duplicates.
func minus(a, b []any) []any {
	used := make([]bool, len(b))
	var out []any
next:
	for _, ea := range a {
		for j, eb := range b {
			if !used[j] && Equal(ea, eb) {
				used[j] = true
				continue next
			}
		}
		out = append(out, CloneValue(ea))
	}
	return out
}

// typed returns the element types of an array of objects whose "type" values are distinct non-empty strings
// (case-insensitively, as selectors match), or false.
func typed(a []any) ([]string, bool) {
	types := make([]string, len(a))
	for i, e := range a {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		t, ok := m["type"].(string)
		if !ok || t == "" {
			return nil, false
		}
		for _, prev := range types[:i] {
			if strings.EqualFold(prev, t) {
				return nil, false
			}
		}
		types[i] = t
	}
	return types, true
}

// addressable reports whether every key of m can be named by a PATCH path: an attribute name (ValidAttrName), and
// no two keys equal but for case (paths are case-insensitive). Across two objects different spellings are fine:
// pairKeys pairs them.
func addressable(m map[string]any) bool {
	for k := range m {
		if !ValidAttrName(k) {
			return false
		}
		for k2 := range m {
			if k2 != k && strings.EqualFold(k2, k) {
				return false
			}
		}
	}
	return true
}

// ValidAttrName reports whether s is an attribute name a PATCH path or a filter can hold: RFC 7643 ATTRNAME (a
// letter, then letters, digits, '-' and '_') or "$ref". ParsePath is more lenient; targets that mappings and
// dynamics write must pass this too, or Diff could not name them in a message's Operations.
func ValidAttrName(s string) bool { return fltValidAttrName(s) }

// elementsAddressable: every element's keys can be paths (elements are objects: typed checked that).
func elementsAddressable(a []any) bool {
	for _, e := range a {
		if !addressable(e.(map[string]any)) {
			return false
		}
	}
	return true
}

func indexFold(types []string, t string) int {
	for i, s := range types {
		if strings.EqualFold(s, t) {
			return i
		}
	}
	return -1
}

// diffTyped compares elements by type: removed types first (in old order), then changed ones, then new ones
// (in new order).
func diffTyped(ops []Operation, path string, o []any, ot []string, n []any, nt []string) []Operation {
	for _, t := range ot {
		if indexFold(nt, t) < 0 {
			ops = append(ops, Operation{Op: OpRemove, Path: path + selectorString("type", t)})
		}
	}
	for i, t := range ot {
		j := indexFold(nt, t)
		if j < 0 {
			continue
		}
		om, nm := o[i].(map[string]any), n[j].(map[string]any)
		elem := path + selectorString("type", t)
		for _, sp := range pairKeys(om, nm) {
			ov, nv := sp.values(om, nm)
			if sp.name() == "type" {
				if nv != ov { // same type in another case: replace the element's type spelling
					ops = append(ops, Operation{Op: OpReplace, Path: elem + ".type", Value: nv})
				}
				continue
			}
			ops = diffAttr(ops, elem+"."+sp.name(), ov, nv, false)
		}
	}
	// A new element is added sub-attribute by sub-attribute on its value path, as Entra does: subscribers
	// create the element from the selector, and an element is never mistaken for another with the same value.
	for j, t := range nt {
		if indexFold(ot, t) >= 0 {
			continue
		}
		nm := n[j].(map[string]any)
		elem := path + selectorString("type", t)
		if len(nm) == 1 {
			ops = append(ops, Operation{Op: OpAdd, Path: path, Value: []any{CloneValue(nm)}})
			continue
		}
		for _, sk := range unionKeys(nm, nil) {
			if sk != "type" && nm[sk] != nil {
				ops = append(ops, Operation{Op: OpAdd, Path: elem + "." + sk, Value: CloneValue(nm[sk])})
			}
		}
	}
	return ops
}
