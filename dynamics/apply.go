package dynamics

import (
	"fmt"
	"slices"
	"strings"

	"github.com/scim-stream/scim-stream/scim"
)

// Apply returns the user with every matching dynamic applied, and what was applied. user is the user as the
// mapper produced it from the source; it is not modified (the result may be user itself when there is nothing to
// do). A user that already carries dynamics (it has dynamicIds, e.g. a stored user being deactivated) is first
// reverted with previous, the Applied returned for it last time, so dynamics are never applied on top of
// themselves and a dynamic that no longer matches is revoked exactly.
//
// Dynamics are evaluated in configuration order against the user as the earlier ones left it, so a later dynamic
// may select (user.dynamicIds -match "<earlier id>"). A revoked dynamic needs no action on a source user: its
// groups, roles and attributes are simply not added again, and the source's own values stay as they are.
func (s *Set) Apply(user scim.User, previous Applied) (scim.User, Applied) {
	if user == nil {
		return nil, Applied{}
	}
	_, carried := user[IDsAttribute]
	if !carried && (s == nil || len(s.ds) == 0) {
		return user, Applied{}
	}
	// u is copied on the first change only: most users match no dynamic, and then cost no copy.
	u, owned := user, false
	if carried {
		u, owned = Revert(user, previous), true
	}
	var out Applied
	if s == nil {
		return u, out
	}
	for i := range s.ds {
		d := &s.ds[i]
		if !d.matches(u, &out.Err) {
			continue
		}
		if !owned {
			u, owned = user.Clone(), true
		}
		var changes []Change
		for _, a := range d.assigns {
			if c, ok := a.apply(u); ok {
				changes = append(changes, c)
			}
		}
		if out.Changes == nil {
			out.Changes = map[string][]Change{}
		}
		out.IDs = append(out.IDs, d.id)
		out.Changes[d.id] = changes
		ids := make([]any, len(out.IDs))
		for k, id := range out.IDs {
			ids[k] = id
		}
		u[IDsAttribute] = ids
	}
	return u, out
}

func (d *dynamic) matches(u scim.User, errp *error) bool {
	for _, f := range d.filters {
		ok, err := f.MatchErr(u, nil)
		if err != nil && *errp == nil {
			// No answer: the caller must not publish this user (see Applied.Err).
			*errp = fmt.Errorf("dynamic %s: %w", d.id, err)
		}
		if ok {
			return true
		}
	}
	return false
}

// apply makes one assignment; ok is false when the user already had everything it assigns.
func (a *assignment) apply(u scim.User) (Change, bool) {
	c := Change{Path: a.name}
	cur, had := u.GetPath(a.path)
	if a.kind == assignValue {
		if had && scim.Equal(cur, a.value) {
			return c, false
		}
		c.Value, c.Had = scim.CloneValue(a.value), had
		if had {
			c.Before = scim.CloneValue(cur)
		}
		_ = u.SetPath(a.path, scim.CloneValue(a.value))
		return c, true
	}
	list, isList := cur.([]any)
	if had && !isList {
		// The source holds a single value where a list is assigned: the list replaces it, restorably.
		c.Value, c.Before, c.Had = scim.CloneValue(a.value), scim.CloneValue(cur), true
		_ = u.SetPath(a.path, scim.CloneValue(a.value))
		return c, true
	}
	c.List, c.Had = true, had
	list = append([]any(nil), list...)
	replaced := false
	for _, e := range a.value.([]any) {
		switch i := a.find(list, e); {
		case i < 0:
			list = append(list, scim.CloneValue(e))
			c.Added = append(c.Added, scim.CloneValue(e))
			c.Replaced = append(c.Replaced, nil)
		case a.kind == assignList && !scim.Equal(list[i], e):
			c.Added = append(c.Added, scim.CloneValue(e))
			c.Replaced = append(c.Replaced, list[i])
			list[i] = scim.CloneValue(e)
			replaced = true
		}
	}
	if len(c.Added) == 0 {
		return c, false
	}
	if !replaced {
		c.Replaced = nil
	}
	_ = u.SetPath(a.path, list)
	return c, true
}

// find returns the index of the element e corresponds to: the same group (value), the same role (type and
// value), the element of the same type in a typed list (address, e-mail…), or an equal element; -1 if none.
func (a *assignment) find(list []any, e any) int {
	em, _ := e.(map[string]any)
	for i, x := range list {
		xm, _ := x.(map[string]any)
		switch {
		case a.kind == assignGroups:
			if xm != nil && str(xm, "value") == str(em, "value") {
				return i
			}
		case a.kind == assignRoles:
			if xm != nil && str(xm, "value") == str(em, "value") && strings.EqualFold(str(xm, "type"), str(em, "type")) {
				return i
			}
		case em != nil && str(em, "type") != "":
			if xm != nil && strings.EqualFold(str(xm, "type"), str(em, "type")) {
				return i
			}
		case scim.Equal(x, e):
			return i
		}
	}
	return -1
}

// Revert returns the user without what applied did to it: the elements each dynamic added are removed, elements
// and values it replaced are restored, and dynamicIds is dropped. A value changed since (it no longer equals what
// the dynamic wrote) is left alone. user is not modified.
func Revert(user scim.User, applied Applied) scim.User {
	if user == nil {
		return nil
	}
	u := user.Clone()
	for i := len(applied.IDs) - 1; i >= 0; i-- {
		changes := applied.Changes[applied.IDs[i]]
		for j := len(changes) - 1; j >= 0; j-- {
			revert(u, changes[j])
		}
	}
	delete(u, IDsAttribute)
	return u
}

func revert(u scim.User, c Change) {
	p, err := scim.ParsePath(c.Path)
	if err != nil {
		return // not written by Apply
	}
	cur, ok := u.GetPath(p)
	if !c.List {
		if !ok || !scim.Equal(cur, c.Value) {
			return
		}
		if c.Had {
			_ = u.SetPath(p, c.Before)
		} else {
			u.DeletePath(p)
		}
		return
	}
	list, _ := cur.([]any)
	list = append([]any(nil), list...)
	// Undo in reverse, putting each replaced element back where its replacement is, so the order of the
	// source's list is restored too.
	for i := len(c.Added) - 1; i >= 0; i-- {
		var was any
		if i < len(c.Replaced) {
			was = c.Replaced[i]
		}
		j := slices.IndexFunc(list, func(x any) bool { return scim.Equal(x, c.Added[i]) })
		switch {
		case j >= 0 && was != nil:
			list[j] = scim.CloneValue(was)
		case j >= 0:
			list = slices.Delete(list, j, j+1)
		case was != nil:
			list = append(list, scim.CloneValue(was)) // changed since: the source's element still comes back
		}
	}
	if len(list) == 0 && !c.Had {
		u.DeletePath(p)
		return
	}
	_ = u.SetPath(p, list)
}
