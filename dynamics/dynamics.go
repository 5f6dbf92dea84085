// Package dynamics applies rule-based (ABAC/RBAC) assignments: when a dynamic's rules match a user, its groups,
// roles and attributes are added to the user and its id is listed in user.dynamicIds; when they stop matching,
// everything it did is revoked. Dynamics run after the mapper and before the stream rules.
package dynamics

import (
	"fmt"
	"strings"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/scim"
)

// Set is a tenant's compiled dynamics, in configuration order. It is safe for concurrent use; a nil Set has no
// dynamics.
type Set struct {
	ds []dynamic
}

type dynamic struct {
	id      string
	filters []*rules.Filter
	assigns []assignment
}

type assignmentKind int

const (
	assignValue  assignmentKind = iota // any single-valued attribute: user.title, user.name.givenName
	assignList                         // a multi-valued attribute: elements merged, same type replaced
	assignGroups                       // user.groups: elements added unless the user has the same group value
	assignRoles                        // user.roles: elements added unless the user has the same type and value
)

type assignment struct {
	key   string // as written, for errors
	kind  assignmentKind
	path  scim.Path
	name  string // Path as text, the Change path
	value any    // normalized; []any for the list kinds
}

// reserved attributes cannot be assigned: dynamicIds is SCIM Stream's own, and id/userName identify the user at
// every subscriber.
var reserved = []string{IDsAttribute, "id", "userName"}

// Compile compiles dynamics. All problems are returned together as rules.Errors, naming
// dynamics[i].rules[j].filter or dynamics[i].assignments.<key> with the line.
func Compile(ds []config.Dynamic) (*Set, error) {
	s := &Set{}
	var errs rules.Errors
	seen := map[string]bool{}
	for i, d := range ds {
		key := fmt.Sprintf("dynamics[%d]", i)
		cd := dynamic{id: d.DynamicID}
		switch {
		case d.DynamicID == "":
			errs = append(errs, &rules.Error{Key: key, Line: d.Line, Msg: "dynamic_id is mandatory: stream rules refer to it as (user.dynamicIds -match \"<id>\")"})
		case seen[d.DynamicID]:
			errs = append(errs, &rules.Error{Key: key, Line: d.Line, Msg: fmt.Sprintf("dynamic_id %q is used twice", d.DynamicID)})
		}
		seen[d.DynamicID] = true
		if len(d.Rules) == 0 {
			errs = append(errs, &rules.Error{Key: key + ".rules", Line: d.Line, Msg: "at least one filter is needed"})
		}
		for j, r := range d.Rules {
			fk := fmt.Sprintf("%s.rules[%d].filter", key, j)
			f, err := rules.CompileFilter(r.Filter)
			if err != nil {
				errs = append(errs, located(err, fk, r.Line))
				continue
			}
			if f.UsesMessageFields() {
				errs = append(errs, &rules.Error{Key: fk, Line: r.Line, Msg: "a dynamic depends on the user only: message fields such as initiatedByUpn belong in stream rules"})
				continue
			}
			cd.filters = append(cd.filters, f)
		}
		if len(d.Assignments) == 0 {
			errs = append(errs, &rules.Error{Key: key + ".assignments", Line: d.Line, Msg: "nothing to assign: add e.g. user.groups: [{display: Grp1, value: Grp1}]"})
		}
		for _, a := range d.Assignments {
			ak := key + ".assignments." + a.Path
			ca, err := compileAssignment(a)
			if err != nil {
				errs = append(errs, &rules.Error{Key: ak, Line: a.Line, Msg: err.Error()})
				continue
			}
			cd.assigns = append(cd.assigns, ca)
		}
		s.ds = append(s.ds, cd)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

func located(err error, key string, line int) *rules.Error {
	if e, ok := err.(*rules.Error); ok {
		c := *e
		c.Key, c.Line = key, line
		return &c
	}
	return &rules.Error{Key: key, Line: line, Msg: err.Error()}
}

func compileAssignment(a config.Assignment) (assignment, error) {
	ca := assignment{key: a.Path}
	rest, ok := strings.CutPrefix(a.Path, "user.")
	if !ok || rest == "" {
		return ca, fmt.Errorf("assignment keys are user attributes: user.groups, user.roles, user.addresses, user.title, …")
	}
	if strings.EqualFold(rest, "group") {
		return ca, fmt.Errorf("did you mean user.groups?")
	}
	for _, r := range reserved {
		if strings.EqualFold(rest, r) {
			return ca, fmt.Errorf("user.%s cannot be assigned by a dynamic", r)
		}
	}
	p, err := scim.ParsePath(rest)
	if err != nil {
		return ca, err
	}
	for _, e := range p.Elems {
		if !scim.ValidAttrName(e.Name) {
			// Operations name attributes by path: a subscriber could not read one with another name.
			return ca, fmt.Errorf("%q is not a SCIM attribute name: start with a letter, then letters, digits, '-' or '_'", e.Name)
		}
	}
	ca.path, ca.name = p, rest
	if a.Value == nil {
		return ca, fmt.Errorf("no value: give the value to assign")
	}
	v, err := scim.Normalize(a.Value)
	if err != nil {
		return ca, err
	}
	ca.value = v
	list, isList := v.([]any)
	switch {
	case strings.EqualFold(rest, "groups"):
		ca.kind, ca.name = assignGroups, "groups"
		if !isList {
			return ca, fmt.Errorf("must be a list of groups: - {display: Grp1-name, value: Grp1-id}")
		}
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok || str(m, "value") == "" {
				return ca, fmt.Errorf("group %d needs a value (the group id)", i+1)
			}
			if str(m, "display") == "" {
				m["display"] = str(m, "value")
			}
		}
	case strings.EqualFold(rest, "roles"):
		ca.kind, ca.name = assignRoles, "roles"
		if !isList {
			return ca, fmt.Errorf("must be a list of roles: - {type: App1, display: Admin access, value: Admin}")
		}
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok || str(m, "value") == "" || str(m, "type") == "" {
				return ca, fmt.Errorf("role %d needs a type (the application) and a value", i+1)
			}
		}
	case isList:
		ca.kind = assignList
		if len(p.Elems) != 1 || p.Elems[0].Select != nil {
			return ca, fmt.Errorf("a list is assigned to a multi-valued attribute such as user.addresses or user.emails")
		}
	}
	return ca, nil
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// Needs is what the dynamics' rules read beyond the user's attributes (roles of named applications).
func (s *Set) Needs() rules.Needs {
	var n rules.Needs
	if s == nil {
		return n
	}
	for _, d := range s.ds {
		for _, f := range d.filters {
			n = n.Merge(f.Needs())
		}
	}
	return n
}
