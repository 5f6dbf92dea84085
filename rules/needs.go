package rules

import "sort"

// Needs is what a set of filters reads beyond the user's own attributes, so that a collector fetches what the
// rules use and no more: the Entra collector reads the role assignments of the applications named here, and holds
// changes for the audit log only when a filter tests who made them.
type Needs struct {
	// MessageFields: some term tests a message field that comes from the audit log (initiatedById,
	// initiatedByUpn, activityDateTime), so a change is worth holding until its audit row arrives. Fields the
	// collector knows at once (activityOperation, targetId, targetUpn) do not count.
	MessageFields bool
	// AllRoles: some filter keeps or tests every role, whatever its application ((.*), or user.roles.value).
	AllRoles bool
	// RoleTypes are the applications (display name or object id) named by user.roles.<type>… terms, sorted.
	RoleTypes []string
}

// Merge adds o to n.
func (n Needs) Merge(o Needs) Needs {
	n.MessageFields = n.MessageFields || o.MessageFields
	n.AllRoles = n.AllRoles || o.AllRoles
	n.RoleTypes = sortedUnique(append(append([]string{}, n.RoleTypes...), o.RoleTypes...))
	return n
}

func (f *Filter) add(n *Needs) {
	for _, t := range f.terms {
		needsOf(t, n)
	}
}

func needsOf(t *term, n *Needs) {
	switch {
	case t.all:
		// (.*) tests nothing; in a stream it keeps every role, which Router.Needs counts.
	case t.path.kind == fieldPath:
		switch t.path.field {
		case "initiatedById", "initiatedByUpn", "activityDateTime":
			n.MessageFields = true
		}
	case t.path.kind == rolesPath && t.path.sel == "":
		n.AllRoles = true
	case t.path.kind == rolesPath:
		n.RoleTypes = append(n.RoleTypes, t.path.sel)
	}
}

// Needs of one filter used for matching only (a dynamic's rule, do_initial_load_filter).
func (f *Filter) Needs() Needs {
	var n Needs
	f.add(&n)
	n.RoleTypes = sortedUnique(n.RoleTypes)
	return n
}

// Needs of every channel's filters; a channel with (.*) carries every role.
func (r *Router) Needs() Needs {
	var n Needs
	for _, c := range r.channels {
		for _, f := range c.filters {
			if f.all {
				n.AllRoles = true
			}
		}
	}
	for _, t := range r.terms {
		needsOf(t, &n)
	}
	n.RoleTypes = sortedUnique(n.RoleTypes)
	return n
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	sort.Strings(s)
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}
