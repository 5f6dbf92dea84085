package scim

import "fmt"

// Get returns the value at an attribute path. With a selector it returns the first selected element (or its
// sub-attribute). A malformed path is simply not found; use ParsePath to report it.
func (u User) Get(path string) (any, bool) {
	p, err := ParsePath(path)
	if err != nil {
		return nil, false
	}
	return u.GetPath(p)
}

// Set puts a value at an attribute path, creating parent objects and, for a selector, the selected element
// (`emails[type eq "work"].value` on a user without a work e-mail appends {"type":"work","value":v}). The value
// is normalized to JSON types. Setting nil deletes, as a SCIM null means unassigned.
func (u User) Set(path string, v any) error {
	p, err := ParsePath(path)
	if err != nil {
		return err
	}
	return u.SetPath(p, v)
}

// Delete removes the value at an attribute path. Objects and selected elements left empty by the removal
// (or holding only the selector attribute) are removed too, so Set followed by Delete restores the user.
func (u User) Delete(path string) {
	p, err := ParsePath(path)
	if err != nil {
		return
	}
	u.DeletePath(p)
}

// GetPath is Get with a parsed path (no parsing per call).
func (u User) GetPath(p Path) (any, bool) {
	var cur any = map[string]any(u)
	if p.URN != "" {
		k, ok := lookupKey(u, p.URN)
		if !ok {
			return nil, false
		}
		cur = u[k]
	}
	for _, e := range p.Elems {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		k, ok := lookupKey(m, e.Name)
		if !ok {
			return nil, false
		}
		cur = m[k]
		if e.Select != nil {
			arr, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			found := false
			for _, el := range arr {
				if e.Select.matches(el) {
					cur, found = el, true
					break
				}
			}
			if !found {
				return nil, false
			}
		}
	}
	if cur == nil {
		return nil, false
	}
	return cur, true
}

// SetPath is Set with a parsed path.
func (u User) SetPath(p Path, v any) error {
	if u == nil {
		return fmt.Errorf("scim: set %s on a nil user", p)
	}
	v, err := Normalize(v)
	if err != nil {
		return fmt.Errorf("scim: set %s: %w", p, err)
	}
	if v == nil {
		u.DeletePath(p)
		return nil
	}
	return setRoot(u, p, v, false)
}

// SetNormalized is SetPath for the mapper's hot path: v must already be in JSON types and is not copied, and
// attribute names match exactly as spelled in p (no case-insensitive search), so callers use one spelling.
func (u User) SetNormalized(p Path, v any) error {
	if v == nil {
		u.DeletePath(p)
		return nil
	}
	return setRoot(u, p, v, true)
}

// setRoot enters the extension's object (created when missing) and sets the attribute in it.
func setRoot(u User, p Path, v any, exact bool) error {
	if p.URN == "" {
		return setIn(u, p.Elems, v, p, exact)
	}
	k := p.URN
	if !exact {
		k, _ = lookupKey(u, p.URN)
	}
	ext, ok := u[k].(map[string]any)
	if !ok {
		if u[k] != nil {
			return fmt.Errorf("scim: set %s: %s is a %s, not an object", p, p.URN, kind(u[k]))
		}
		ext = map[string]any{}
		u[k] = ext
	}
	return setIn(ext, p.Elems, v, p, exact)
}

func setIn(m map[string]any, elems []PathElem, v any, p Path, exact bool) error {
	e := elems[0]
	k := e.Name
	if !exact {
		k, _ = lookupKey(m, e.Name)
	}
	last := len(elems) == 1
	if e.Select == nil {
		if last {
			m[k] = v
			return nil
		}
		child, ok := m[k].(map[string]any)
		if !ok {
			if m[k] != nil {
				return fmt.Errorf("scim: set %s: %s is a %s, not an object", p, e.Name, kind(m[k]))
			}
			child = map[string]any{}
			m[k] = child
		}
		return setIn(child, elems[1:], v, p, exact)
	}
	arr, ok := m[k].([]any)
	if !ok && m[k] != nil {
		return fmt.Errorf("scim: set %s: %s is a %s, not a multi-valued attribute", p, e.Name, kind(m[k]))
	}
	idx := -1
	for i, el := range arr {
		if e.Select.matches(el) {
			idx = i
			break
		}
	}
	if last {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("scim: set %s: the selected element must be an object, got a %s", p, kind(v))
		}
		if _, has := lookupKey(obj, e.Select.Attr); !has {
			obj[e.Select.Attr] = e.Select.Value
		}
		if idx < 0 {
			m[k] = append(arr, obj)
		} else {
			arr[idx] = obj
		}
		return nil
	}
	if idx < 0 {
		el := map[string]any{e.Select.Attr: e.Select.Value}
		arr = append(arr, el)
		m[k] = arr
		idx = len(arr) - 1
	}
	child, ok := arr[idx].(map[string]any)
	if !ok {
		return fmt.Errorf("scim: set %s: element of %s is a %s, not an object", p, e.Name, kind(arr[idx]))
	}
	return setIn(child, elems[1:], v, p, exact)
}

// DeletePath is Delete with a parsed path.
func (u User) DeletePath(p Path) {
	if u == nil {
		return
	}
	deleteIn(u, p.walk())
}

// deleteIn removes the path below m and prunes what became empty; it reports whether m is now empty.
func deleteIn(m map[string]any, elems []PathElem) bool {
	e := elems[0]
	k, ok := lookupKey(m, e.Name)
	if !ok {
		return len(m) == 0
	}
	last := len(elems) == 1
	if e.Select == nil {
		if last {
			delete(m, k)
		} else if child, ok := m[k].(map[string]any); ok && deleteIn(child, elems[1:]) {
			delete(m, k)
		}
		return len(m) == 0
	}
	arr, ok := m[k].([]any)
	if !ok {
		return len(m) == 0
	}
	out := arr[:0:0]
	for _, el := range arr {
		if e.Select.matches(el) {
			if last {
				continue
			}
			if child, ok := el.(map[string]any); ok {
				deleteIn(child, elems[1:])
				if onlySelector(child, e.Select) {
					continue
				}
			}
		}
		out = append(out, el)
	}
	if len(out) == 0 {
		delete(m, k)
	} else {
		m[k] = out
	}
	return len(m) == 0
}

func onlySelector(m map[string]any, s *Selector) bool {
	if len(m) == 0 {
		return true
	}
	if len(m) != 1 {
		return false
	}
	_, ok := lookupKey(m, s.Attr)
	return ok
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
