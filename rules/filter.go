// Package rules is SCIM Stream's filter language and per-channel routing.
//
// A filter is one or more terms joined by "and"; several filters in a rule list are OR-ed:
//
//	(user.groups.display -match "App4.*") and (user.title -match "(Dog Trainer|Project Manager)")
//
// A term tests an attribute path against a regular expression (regexp2, .NET syntax, so look-ahead such as
// (?!Sync_.*) works) that must match the whole value; (.*) matches everything. Terms on user.groups… and
// user.roles… also decide which groups and roles a channel's message carries.
package rules

import (
	"fmt"

	"github.com/scim-stream/scim-stream/scim"
)

// Fields are the top-level message fields of a change (initiatedByUpn, initiatedById, activityOperation…), by
// their names in the message (see MessageFields).
type Fields map[string]string

// term is a compiled Term.
type term struct {
	all     bool
	path    *path
	pat     *pattern
	exclude bool
}

// Filter is one compiled filter: its terms are AND-ed.
type Filter struct {
	src   string
	terms []*term
}

// CompileFilter compiles one filter, e.g. do_initial_load_filter. Errors are *Error with the column.
func CompileFilter(s string) (*Filter, error) {
	syntax, err := Parse(s)
	if err != nil {
		return nil, err
	}
	f := &Filter{src: s}
	for _, t := range syntax {
		ct, err := compileTerm(t)
		if err != nil {
			return nil, err
		}
		f.terms = append(f.terms, ct)
	}
	return f, nil
}

func compileTerm(t Term) (*term, error) {
	if t.All {
		return &term{all: true}, nil
	}
	if t.Op != "match" {
		return nil, &Error{Column: t.OpColumn, Msg: fmt.Sprintf("-%s is a mapper rule (mapper.rules in an hr tenant); stream, dynamic and initial-load filters use -match", t.Op)}
	}
	p, err := compilePath(t.Path)
	if err != nil {
		return nil, &Error{Column: t.PathColumn, Msg: err.Error()}
	}
	if t.Exclude && p.kind != groupsPath && p.kind != rolesPath {
		return nil, &Error{Column: t.Column, Msg: fmt.Sprintf("-exclude applies to user.groups… and user.roles… terms only (it keeps the matched groups/roles out of the message); remove it from %q", t.Path)}
	}
	pat, err := compilePattern(t.Arg)
	if err != nil {
		return nil, &Error{Column: t.ArgColumn, Msg: err.Error()}
	}
	return &term{path: p, pat: pat, exclude: t.Exclude}, nil
}

// String is the filter as written.
func (f *Filter) String() string { return f.src }

// Match reports whether the user and the change's fields satisfy every term. A nil user (no user) matches
// nothing, not even (.*).
func (f *Filter) Match(user scim.User, fields Fields) bool {
	if user == nil {
		return false
	}
	ok, _ := f.MatchErr(user, fields)
	return ok
}

// matches evaluates one term without recording which groups/roles it selected.
func (t *term) matches(user scim.User, fields Fields, sc *scratch) bool {
	switch {
	case t.all:
		return true
	case t.path.kind == fieldPath:
		return t.pat.matchSc(fields[t.path.field], sc)
	case user == nil:
		return false
	case t.path.kind == groupsPath || t.path.kind == rolesPath:
		_, elems := elementsOf(user, t.path.segs[0])
		for _, e := range elems {
			if t.path.selects(e, t.pat, sc) {
				return true
			}
		}
		return false
	}
	return t.path.anyValue(map[string]any(user), 0, t.pat, sc)
}

// UsesMessageFields reports whether a term tests a message field (initiatedByUpn…) rather than the user.
func (f *Filter) UsesMessageFields() bool {
	for _, t := range f.terms {
		if !t.all && t.path.kind == fieldPath {
			return true
		}
	}
	return false
}
