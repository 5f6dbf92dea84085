package scim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// PatchError is a PATCH operation that cannot be applied; ScimType is the RFC 7644 §3.12 error type the SCIM
// server answers with (invalidSyntax, invalidPath, noTarget, invalidValue, mutability).
type PatchError struct {
	ScimType string
	Index    int // index of the operation in the request
	Msg      string
}

func (e *PatchError) Error() string {
	return fmt.Sprintf("scim patch: Operations[%d]: %s", e.Index, e.Msg)
}

// ParsePatchRequest reads a PatchOp request body. It is lenient in the ways real clients differ: the
// "Operations" key in any case, a missing schemas array, and Entra's capitalised op names (ApplyPatch lowers them).
func ParsePatchRequest(body []byte) ([]Operation, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, &PatchError{ScimType: "invalidSyntax", Index: -1, Msg: "body is not a JSON object: " + err.Error()}
	}
	var opsJSON json.RawMessage
	for k, v := range raw {
		if strings.EqualFold(k, "Operations") {
			opsJSON = v
		}
	}
	if opsJSON == nil {
		return nil, &PatchError{ScimType: "invalidSyntax", Index: -1, Msg: `missing "Operations" array`}
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(opsJSON, &items); err != nil {
		return nil, &PatchError{ScimType: "invalidSyntax", Index: -1, Msg: `"Operations" is not an array of objects`}
	}
	ops := make([]Operation, 0, len(items))
	for i, it := range items {
		var op Operation
		for k, v := range it {
			var err error
			switch strings.ToLower(k) {
			case "op":
				err = json.Unmarshal(v, &op.Op)
			case "path":
				err = json.Unmarshal(v, &op.Path)
			case "value":
				err = json.Unmarshal(v, &op.Value)
			}
			if err != nil {
				return nil, &PatchError{ScimType: "invalidSyntax", Index: i, Msg: fmt.Sprintf("%q: %v", k, err)}
			}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// ApplyPatch applies PATCH operations (RFC 7644 §3.5.2) to a copy of resource and returns the copy; resource is
// not changed, and on error nothing is applied. Besides the RFC it accepts the Entra provisioning dialect:
// capitalised ops ("Replace"), booleans as "True"/"False" strings, removal of multi-valued entries given as a
// value array ({"op":"Remove","path":"members","value":[{"value":"id"}]}), dotted and URN-qualified keys in
// path-less value objects ({"name.givenName":"x"}), a bare string for the enterprise manager, and add/replace on
// a value path that matches nothing (emails[type eq "work"].value), which creates the element.
func ApplyPatch(resource map[string]any, ops []Operation) (map[string]any, error) {
	out, _ := CloneValue(resource).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	for i, op := range ops {
		if err := applyOne(out, op); err != nil {
			if pe, ok := err.(*PatchError); ok {
				pe.Index = i
				return nil, pe
			}
			return nil, &PatchError{ScimType: "invalidValue", Index: i, Msg: err.Error()}
		}
	}
	return out, nil
}

func patchErr(scimType, format string, args ...any) *PatchError {
	return &PatchError{ScimType: scimType, Msg: fmt.Sprintf(format, args...)}
}

func applyOne(res map[string]any, op Operation) error {
	kind := strings.ToLower(strings.TrimSpace(op.Op))
	switch kind {
	case OpAdd, OpReplace, OpRemove:
	default:
		return patchErr("invalidSyntax", "unknown op %q: use add, replace or remove", op.Op)
	}
	value := CloneValue(op.Value)
	if strings.TrimSpace(op.Path) == "" {
		if kind == OpRemove {
			return patchErr("noTarget", "remove needs a path")
		}
		obj, ok := value.(map[string]any)
		if !ok {
			return patchErr("invalidValue", "%s without a path needs an object value", kind)
		}
		// Sorted keys: the result does not depend on map order when two keys address the same attribute.
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.EqualFold(k, "schemas") {
				continue
			}
			v := obj[k]
			if ext, isMap := v.(map[string]any); isMap && isSchemaURN(k) {
				subKeys := make([]string, 0, len(ext))
				for sk := range ext {
					subKeys = append(subKeys, sk)
				}
				sort.Strings(subKeys)
				for _, sk := range subKeys {
					if err := applyPath(res, kind, k+":"+sk, ext[sk], true); err != nil {
						return err
					}
				}
				continue
			}
			if err := applyPath(res, kind, k, v, true); err != nil {
				return err
			}
		}
		return nil
	}
	if kind != OpRemove && value == nil {
		return patchErr("invalidValue", "%s %q needs a value", kind, op.Path)
	}
	return applyPath(res, kind, op.Path, value, false)
}

// isSchemaURN tells an extension's URN ("urn:…:2.0:User") from a URN-qualified attribute ("urn:…:2.0:User:manager"):
// schema names are capitalised, attribute names are not.
func isSchemaURN(k string) bool {
	if !strings.HasPrefix(strings.ToLower(k), "urn:") {
		return false
	}
	last := k[strings.LastIndexByte(k, ':')+1:]
	return last != "" && last[0] >= 'A' && last[0] <= 'Z'
}

// patchPath is attrPath [valFilter] [.subAttr] (RFC 7644 §3.5.2 PATH).
type patchPath struct {
	attr   fltAttrPath // the attribute; attr.Sub is the sub-attribute when there is no filter
	filter fltFilterNode
	sub    string // sub-attribute after the value filter
	text   string
}

func parsePatchPath(s string) (patchPath, error) {
	pp := patchPath{text: s}
	p := &fltFilterParser{src: s}
	if err := p.lex(); err != nil {
		return pp, patchErr("invalidPath", "path %q: %v", s, err)
	}
	t := p.next()
	if t.kind != fltTokWord {
		return pp, patchErr("invalidPath", "path %q does not start with an attribute name", s)
	}
	a, err := fltParseAttrPath(t.text)
	if err != nil {
		return pp, patchErr("invalidPath", "path %q: %v", s, err)
	}
	pp.attr = a
	if p.peek().kind == fltTokLBracket {
		if a.Sub != "" {
			return pp, patchErr("invalidPath", "path %q: a value filter must follow the multi-valued attribute, not a sub-attribute", s)
		}
		p.next()
		inner, err := p.parseOr(1, true)
		if err != nil {
			return pp, patchErr("invalidPath", "path %q: %v", s, err)
		}
		if c := p.next(); c.kind != fltTokRBracket {
			return pp, patchErr("invalidPath", "path %q: expected \"]\"", s)
		}
		pp.filter = inner
		if w := p.peek(); w.kind == fltTokWord && strings.HasPrefix(w.text, ".") && fltValidAttrName(w.text[1:]) {
			p.next()
			pp.sub = w.text[1:]
		}
	}
	if t := p.peek(); t.kind != fltTokEOF {
		return pp, patchErr("invalidPath", "path %q: unexpected %s at offset %d", s, t, t.pos)
	}
	return pp, nil
}

// readOnlyAttrs may not be changed by PATCH (RFC 7643 §3.1, §3.1 meta).
var readOnlyAttrs = map[string]bool{"id": true, "meta": true}

func applyPath(res map[string]any, kind, path string, value any, pathless bool) error {
	pp, err := parsePatchPath(path)
	if err != nil {
		return err
	}
	if pp.attr.URN == "" && readOnlyAttrs[strings.ToLower(pp.attr.Name)] {
		return patchErr("mutability", "attribute %q is read-only", pp.attr.Name)
	}
	leaf := pp.attr.Name
	if pp.attr.Sub != "" {
		leaf = pp.attr.Sub
	}
	if pp.sub != "" {
		leaf = pp.sub
	}
	value = coerceEntraValue(pp.attr, leaf, value)

	container := pp.attr.container(res)
	if container == nil {
		if kind == OpRemove {
			return nil // nothing to remove
		}
		key, _ := fltLookupKey(res, pp.attr.URN)
		container = map[string]any{}
		res[key] = container
		addSchema(res, pp.attr.URN)
	}
	key, exists := fltLookupKey(container, pp.attr.Name)
	existing := container[key]

	switch {
	case pp.filter == nil && pp.attr.Sub == "":
		return applyAttr(container, key, exists, existing, kind, value)
	case pp.filter == nil:
		return applySub(container, key, existing, pp.attr.Sub, kind, value)
	default:
		return applyFiltered(container, key, existing, pp, kind, value)
	}
}

func addSchema(res map[string]any, urn string) {
	schemas, _ := fltLookup(res, "schemas").([]any)
	for _, s := range schemas {
		if str, ok := s.(string); ok && strings.EqualFold(str, urn) {
			return
		}
	}
	if schemas == nil && fltLookup(res, "schemas") != nil {
		return // not an array: leave the client's value alone
	}
	k, _ := fltLookupKey(res, "schemas")
	res[k] = append(schemas, urn)
}

func applyAttr(c map[string]any, key string, exists bool, existing any, kind string, value any) error {
	switch kind {
	case OpRemove:
		if arr, ok := existing.([]any); ok && value != nil {
			rest := removeValues(arr, value)
			if len(rest) == 0 {
				delete(c, key)
			} else {
				c[key] = rest
			}
			return nil
		}
		delete(c, key)
		return nil
	case OpAdd:
		if arr, ok := existing.([]any); ok {
			c[key] = appendUnique(arr, value)
			return nil
		}
		if vm, ok := value.(map[string]any); ok {
			if em, ok := existing.(map[string]any); ok {
				mergeInto(em, vm)
				return nil
			}
		}
		if !exists {
			c[key] = value
			return nil
		}
		c[key] = value
		return nil
	default: // replace
		if vm, ok := value.(map[string]any); ok {
			if em, ok := existing.(map[string]any); ok {
				mergeInto(em, vm)
				return nil
			}
		}
		c[key] = value
		return nil
	}
}

func applySub(c map[string]any, key string, existing any, sub, kind string, value any) error {
	switch parent := existing.(type) {
	case nil:
		if kind == OpRemove {
			return nil
		}
		c[key] = map[string]any{sub: value}
	case map[string]any:
		sk, exists := fltLookupKey(parent, sub)
		if err := applyAttr(parent, sk, exists, parent[sk], kind, value); err != nil {
			return err
		}
		if len(parent) == 0 {
			delete(c, key)
		}
	case []any:
		// emails.value: every element's sub-attribute.
		for _, el := range parent {
			if m, ok := el.(map[string]any); ok {
				sk, exists := fltLookupKey(m, sub)
				if err := applyAttr(m, sk, exists, m[sk], kind, CloneValue(value)); err != nil {
					return err
				}
			}
		}
	default:
		return patchErr("invalidPath", "attribute %q is not complex: it has no sub-attribute %q", key, sub)
	}
	return nil
}

func applyFiltered(c map[string]any, key string, existing any, pp patchPath, kind string, value any) error {
	var arr []any
	switch x := existing.(type) {
	case nil:
	case []any:
		arr = x
	default:
		arr = []any{x}
	}
	var matched []int
	for i, el := range arr {
		m, ok := el.(map[string]any)
		if !ok {
			m = map[string]any{"value": el}
		}
		if pp.filter.match(m) {
			matched = append(matched, i)
		}
	}
	if kind == OpRemove {
		if len(matched) == 0 {
			return nil // removing what is not there is not an error: retries and Entra's removals stay idempotent
		}
		if pp.sub == "" {
			keep := arr[:0:0]
			for i, el := range arr {
				if !containsInt(matched, i) {
					keep = append(keep, el)
				}
			}
			if len(keep) == 0 {
				delete(c, key)
			} else {
				c[key] = keep
			}
			return nil
		}
		for _, i := range matched {
			if m, ok := arr[i].(map[string]any); ok {
				sk, _ := fltLookupKey(m, pp.sub)
				delete(m, sk)
			}
		}
		return nil
	}
	if len(matched) == 0 {
		// Entra sends add/replace on a value path for an element that does not exist yet; build it from the
		// filter's equality tests (type eq "work") plus the value.
		el, ok := filterEqualities(pp.filter)
		if !ok {
			return patchErr("noTarget", "path %q matches no value and its filter cannot describe a new one", pp.text)
		}
		if pp.sub != "" {
			el[pp.sub] = value
		} else if vm, ok := value.(map[string]any); ok {
			mergeInto(el, vm)
		} else {
			return patchErr("invalidValue", "path %q needs an object value", pp.text)
		}
		c[key] = append(arr, el)
		return nil
	}
	for _, i := range matched {
		m, ok := arr[i].(map[string]any)
		if !ok {
			if pp.sub == "" {
				arr[i] = CloneValue(value)
				continue
			}
			return patchErr("invalidPath", "path %q: the values of %q are not complex", pp.text, key)
		}
		if pp.sub != "" {
			sk, exists := fltLookupKey(m, pp.sub)
			if err := applyAttr(m, sk, exists, m[sk], kind, CloneValue(value)); err != nil {
				return err
			}
			continue
		}
		if vm, ok := value.(map[string]any); ok {
			mergeInto(m, CloneValue(vm).(map[string]any))
		} else {
			return patchErr("invalidValue", "path %q needs an object value", pp.text)
		}
	}
	c[key] = arr
	return nil
}

// filterEqualities returns the attribute values a conjunction of eq tests pins down, or false when the filter
// is anything else.
func filterEqualities(n fltFilterNode) (map[string]any, bool) {
	out := map[string]any{}
	var walk func(fltFilterNode) bool
	walk = func(n fltFilterNode) bool {
		switch x := n.(type) {
		case *fltLogicalNode:
			return !x.or && walk(x.left) && walk(x.right)
		case *fltCompareNode:
			if x.op != "eq" || x.attr.URN != "" || x.attr.Sub != "" || x.value == nil {
				return false
			}
			out[x.attr.Name] = x.value
			return true
		}
		return false
	}
	if !walk(n) {
		return nil, false
	}
	return out, true
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// mergeInto sets each attribute of src in dst, matching names case-insensitively.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		dk, _ := fltLookupKey(dst, k)
		dst[dk] = v
	}
}

func appendUnique(arr []any, value any) []any {
	add, ok := value.([]any)
	if !ok {
		add = []any{value}
	}
	out := arr
	for _, v := range add {
		if indexOfValue(out, v) < 0 {
			out = append(out, v)
		}
	}
	return out
}

func removeValues(arr []any, value any) []any {
	rm, ok := value.([]any)
	if !ok {
		rm = []any{value}
	}
	out := make([]any, 0, len(arr))
	for _, el := range arr {
		if indexOfValue(rm, el) < 0 {
			out = append(out, el)
		}
	}
	return out
}

// indexOfValue finds v in arr. Complex values with a "value" sub-attribute are the same value when their
// "value"s are equal and their "type"s do not differ (a member is its id, whatever display name the client
// sends along; a home and a work e-mail with the same address are two values).
func indexOfValue(arr []any, v any) int {
	vm, vIsMap := v.(map[string]any)
	for i, el := range arr {
		if em, ok := el.(map[string]any); ok && vIsMap {
			ev, eok := em["value"]
			vv, vok := vm["value"]
			if eok && vok {
				et, etok := em["type"].(string)
				vt, vtok := vm["type"].(string)
				if Equal(ev, vv) && (!etok || !vtok || strings.EqualFold(et, vt)) {
					return i
				}
				continue
			}
		}
		if Equal(el, v) {
			return i
		}
	}
	return -1
}

// booleanAttrs are the core boolean attributes whose string forms Entra sends ("False").
var booleanAttrs = map[string]bool{"active": true, "primary": true}

func coerceEntraValue(a fltAttrPath, leaf string, v any) any {
	if s, ok := v.(string); ok && strings.EqualFold(a.URN, EnterpriseUserSchema) && strings.EqualFold(a.Name, "manager") && a.Sub == "" {
		return map[string]any{"value": s}
	}
	if booleanAttrs[strings.ToLower(leaf)] {
		if b, ok := boolString(v); ok {
			return b
		}
	}
	return coerceBools(v)
}

func boolString(v any) (bool, bool) {
	s, ok := v.(string)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// coerceBools converts "True"/"False" strings of boolean sub-attributes inside value objects and arrays.
func coerceBools(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if booleanAttrs[strings.ToLower(k)] {
				if b, ok := boolString(e); ok {
					x[k] = b
					continue
				}
			}
			x[k] = coerceBools(e)
		}
	case []any:
		for i, e := range x {
			x[i] = coerceBools(e)
		}
	}
	return v
}

// CoerceBooleans converts, in place, the "True"/"False" strings that Entra and Microsoft's reference tests send
// for the core boolean attributes (active, and primary in multi-valued values) to JSON booleans.
func CoerceBooleans(res map[string]any) {
	coerceBools(res)
}
