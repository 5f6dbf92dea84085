// Package mapper turns a raw source record (Entra Graph user, HR REST object) into a SCIM user, following the
// mapping language of the configuration reference: source paths, [SCIM attribute] references, nestable
// functions, onCreate targets, the Entra default mapping and the HR -most_current rule.
package mapper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// Mapper is a compiled mapper configuration. It is immutable and safe for concurrent use.
type Mapper struct {
	kind   wire.Type
	user   []*mapping // in evaluation order (references resolved before use)
	group  []*mapping
	rules  []*currentRule
	source []string
	exts   []string // extension schemas the user targets write, sorted
	// width is the number of top-level attributes the user mappings can set, schemas included: Map sizes the
	// user for it.
	width int
}

type mapping struct {
	section    string
	src        config.Mapping
	expr       node
	target     scim.Path
	targetText string // canonical, for dependencies and uniqueness
	createOnly bool   // map_to: onCreate.<attr>
	unique     string // the attribute GetUniqueValue reserves under (target without onCreate.)
	single     bool   // target is a sub-attribute of a selected element: an array source gives its first value
	kind       scimKind
}

// Options are per-record inputs of Map.
type Options struct {
	// New is true the first time this source object is mapped: only then are onCreate. targets computed.
	New bool
	// Owner is the source id; it owns the unique values GetUniqueValue reserves for it.
	Owner string
	// Unique is the registry of unique values (collector.State, or NewMemory in tests).
	Unique Uniqueness
	// Now is the reference time of the -most_current rule; zero means time.Now().
	Now time.Time
}

// evalCtx is the state of one Map call.
type evalCtx struct {
	ctx       context.Context
	m         *Mapper
	raw       map[string]any
	user      scim.User
	opts      Options
	attempt   int    // GetUniqueValue candidate number, read by Increment
	attribute string // the uniqueness attribute of the mapping being evaluated
	chosen    []any  // per -most_current rule: the chosen element, once computed
	done      []bool
	// chosenBuf and doneBuf hold chosen and done for the usual one rule, saving two allocations per record.
	chosenBuf [1]any
	doneBuf   [1]bool
}

// Compile compiles a tenant's mapper configuration. kind is wire.Entra (the default Entra mapping is merged in;
// groups, roles and the group displayName cannot be overridden) or wire.HR (userName, startDate and endDate must
// be mapped; rules may hold one -most_current filter). All errors are returned together, each an *Error naming
// the mapping, its line, the column and what was expected.
func Compile(kind wire.Type, m config.Mapper) (*Mapper, error) {
	var errs []error
	mp := &Mapper{kind: kind}
	userMaps, groupMaps := m.User, m.Group
	switch kind {
	case wire.Entra:
		if len(m.Rules) > 0 {
			errs = append(errs, &Error{Section: "mapper.rules", Source: m.Rules[0].Filter, Line: m.Rules[0].Line,
				Msg: "mapper rules apply to hr tenants only (-most_current); remove them for entra"})
		}
		var err []error
		userMaps, groupMaps, err = mergeEntra(m)
		errs = append(errs, err...)
	case wire.HR:
		if len(m.Group) > 0 {
			errs = append(errs, &Error{Section: "mapper.group", Source: m.Group[0].Source, MapTo: m.Group[0].MapTo, Line: m.Group[0].Line,
				Msg: "group mappings apply to entra tenants only; remove mapper.group"})
		}
	default:
		return nil, fmt.Errorf("mapper: unknown collector kind %q: use %q or %q", kind, wire.Entra, wire.HR)
	}

	user := compileMappings("mapper.user", userMaps, &errs)
	mp.group = compileMappings("mapper.group", groupMaps, &errs)
	canonicalSpelling(user)
	canonicalSpelling(mp.group)

	if kind == wire.HR {
		for _, attr := range []string{"userName", "startDate", "endDate"} {
			if !slices.ContainsFunc(user, func(x *mapping) bool { return strings.EqualFold(x.targetText, attr) }) {
				errs = append(errs, &Error{Section: "mapper.user", Source: attr,
					Msg: fmt.Sprintf("no mapping sets %s: the hr mapper must set userName, startDate and endDate, e.g. - employmentNav.results.[0].%s: {map_to: %s}", attr, attr, attr)})
			}
		}
		for i, f := range m.Rules {
			r, err := parseRule(f, i, user)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			mp.rules = append(mp.rules, r)
		}
		for _, r := range mp.rules {
			r.mark(user)
		}
	}

	order, err := evaluationOrder(user)
	if err != nil {
		errs = append(errs, err)
	}
	mp.user = order
	mp.source = sourcePaths(kind, user, mp.group)
	for _, x := range user {
		if x.target.URN != "" && !slices.Contains(mp.exts, x.target.URN) {
			mp.exts = append(mp.exts, x.target.URN)
		}
	}
	slices.Sort(mp.exts)
	top := map[string]bool{"schemas": true}
	for _, x := range user {
		k := strings.ToLower(x.target.URN)
		if k == "" {
			k = strings.ToLower(x.target.Elems[0].Name)
		}
		top[k] = true
	}
	mp.width = len(top)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return mp, nil
}

func compileMappings(section string, ms []config.Mapping, errs *[]error) []*mapping {
	var out []*mapping
	for _, cm := range ms {
		mk := func(col int, msg string) *Error {
			return &Error{Section: section, Source: cm.Source, MapTo: cm.MapTo, Line: cm.Line, Column: col, Msg: msg}
		}
		expr, err := parseExpr(cm.Source)
		if err != nil {
			var se *syntaxError
			if errors.As(err, &se) {
				*errs = append(*errs, mk(column(cm.Source, se.off), se.msg))
			} else {
				*errs = append(*errs, mk(0, err.Error()))
			}
			continue
		}
		mt := strings.TrimSpace(cm.MapTo)
		x := &mapping{section: section, src: cm, expr: expr}
		if rest, ok := cutPrefixFold(mt, scim.CreateOnly+"."); ok {
			x.createOnly = true
			p, err := scim.ParsePath(rest)
			if err != nil {
				*errs = append(*errs, mk(0, "map_to: "+err.Error()))
				continue
			}
			x.unique = p.String()
			x.target = scim.Path{Elems: append([]scim.PathElem{{Name: scim.CreateOnly}}, p.Elems...)}
			if p.URN != "" {
				*errs = append(*errs, mk(0, "map_to: onCreate. takes core attributes only, e.g. onCreate.userPrincipalName"))
				continue
			}
		} else {
			p, err := scim.ParsePath(mt)
			if err != nil {
				*errs = append(*errs, mk(0, "map_to: "+err.Error()))
				continue
			}
			x.target = p
			x.unique = p.String()
		}
		x.targetText = x.target.String()
		x.kind = scimKindOf(x.target)
		bad := ""
		for _, e := range x.target.Elems {
			if e.Select != nil {
				x.single = true
				if !scim.ValidAttrName(e.Select.Attr) && bad == "" {
					bad = e.Select.Attr
				}
			}
			if !scim.ValidAttrName(e.Name) && bad == "" {
				bad = e.Name
			}
		}
		if bad != "" {
			// Operations name attributes by such paths: a subscriber could not read one with another name.
			*errs = append(*errs, mk(0, fmt.Sprintf("map_to: %q is not a SCIM attribute name: start with a letter, then letters, digits, '-' or '_'", bad)))
			continue
		}
		out = append(out, x)
	}
	return out
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// evaluationOrder orders mappings so that a [reference] is evaluated after the mappings that set it (the
// documentation's SuccessFactors example references [name.givenName] before mapping it), keeping the
// configuration order otherwise. A reference nothing sets, or a cycle, is an error.
func evaluationOrder(ms []*mapping) ([]*mapping, error) {
	deps := make([][]int, len(ms))
	var errs []error
	for i, m := range ms {
		walk(m.expr, func(n node) {
			r, ok := n.(scimRef)
			if !ok {
				return
			}
			ref := strings.ToLower(r.path.String())
			found := false
			for j, o := range ms {
				t := strings.ToLower(o.targetText)
				if t == ref || strings.HasPrefix(t, ref+".") || strings.HasPrefix(t, ref+"[") || strings.HasPrefix(ref, t+".") {
					found = true
					if j != i {
						deps[i] = append(deps[i], j)
					}
				}
			}
			if !found {
				errs = append(errs, &Error{Section: m.section, Source: m.src.Source, MapTo: m.src.MapTo, Line: m.src.Line,
					Column: column(m.src.Source, r.off),
					Msg:    fmt.Sprintf("[%s] refers to a SCIM attribute that no mapping sets; add a mapping with map_to: %s", r.text, r.text)})
			}
		})
	}
	if len(errs) > 0 {
		return ms, errors.Join(errs...)
	}
	done := make([]bool, len(ms))
	out := make([]*mapping, 0, len(ms))
	for len(out) < len(ms) {
		progressed := false
		for i, m := range ms {
			if done[i] {
				continue
			}
			ready := true
			for _, d := range deps[i] {
				if !done[d] {
					ready = false
					break
				}
			}
			if ready {
				done[i] = true
				out = append(out, m)
				progressed = true
				break // restart: earliest ready mapping first keeps configuration order
			}
		}
		if !progressed {
			for i, m := range ms {
				if !done[i] {
					return ms, &Error{Section: m.section, Source: m.src.Source, MapTo: m.src.MapTo, Line: m.src.Line,
						Msg: "the [references] of this mapping and of the mappings it refers to form a cycle; one of them must read the source instead"}
				}
			}
		}
	}
	return out, nil
}

// sourcePaths lists the raw attributes read, as written, in order and without repeats. For entra the
// membership sources (groups, appRoles) are left out: the collector resolves them, they are not Graph properties.
func sourcePaths(kind wire.Type, lists ...[]*mapping) []string {
	var out []string
	seen := map[string]bool{}
	for _, ms := range lists {
		for _, m := range ms {
			walk(m.expr, func(n node) {
				s, ok := n.(sourceRef)
				if !ok || seen[s.path.text] {
					return
				}
				if kind == wire.Entra && (s.path.text == "groups" || s.path.text == "appRoles") {
					return
				}
				seen[s.path.text] = true
				out = append(out, s.path.text)
			})
		}
	}
	return out
}

// SourcePaths returns the source paths the mapper reads, as written in the mappings (e.g. "userPrincipalName",
// "manager.userPrincipalName", "employeeOrgData.costCenter"), in mapping order. The first dotted segment is
// the top-level property: the Entra collector builds $select (and $expand for manager) from it. Entra's
// membership sources groups and appRoles are not included.
func (m *Mapper) SourcePaths() []string { return slices.Clone(m.source) }

// Map maps one raw record to a SCIM user. Mappings whose source is missing set nothing; onCreate. targets are
// computed only when opts.New. "schemas" lists the core schema and every extension present. On error the
// user is incomplete and must not be published; the error names each failing mapping.
func (m *Mapper) Map(ctx context.Context, raw map[string]any, opts Options) (scim.User, error) {
	u := make(scim.User, m.width)
	err := m.run(ctx, m.user, raw, opts, u)
	m.setSchemas(u)
	return u, err
}

// MapGroup maps a raw group (Entra: displayName) with the group mappings.
func (m *Mapper) MapGroup(ctx context.Context, raw map[string]any) (scim.Group, error) {
	u := scim.User{}
	err := m.run(ctx, m.group, raw, Options{}, u)
	return scim.Group(u), err
}

func (m *Mapper) run(ctx context.Context, ms []*mapping, raw map[string]any, opts Options, u scim.User) error {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	c := &evalCtx{ctx: ctx, m: m, raw: raw, user: u, opts: opts}
	switch {
	case len(m.rules) == 1:
		c.chosen, c.done = c.chosenBuf[:], c.doneBuf[:]
	case len(m.rules) > 1:
		c.chosen = make([]any, len(m.rules))
		c.done = make([]bool, len(m.rules))
	}
	var errs []error
	for _, x := range ms {
		if x.createOnly && !opts.New {
			continue
		}
		c.attribute = x.unique
		v, err := x.expr.eval(c)
		if err == nil {
			err = x.set(u, v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q (map_to %q): %w", x.section, x.src.Source, x.src.MapTo, err))
		}
	}
	return errors.Join(errs...)
}

func (x *mapping) set(u scim.User, v any) error {
	if v == nil {
		return nil
	}
	if a, ok := v.([]any); ok && x.single {
		if len(a) == 0 {
			return nil
		}
		v = a[0]
	}
	if _, ok := v.(string); !ok {
		var err error
		if v, err = scim.Normalize(v); err != nil { // copies: the user must not share state with the raw record
			return err
		}
	}
	v, err := x.kind.coerce(v, x.targetText)
	if err != nil {
		return err
	}
	return u.SetNormalized(x.target, v)
}

// canonicalSpelling gives every target one spelling per attribute (the first one written), so that Map can set
// attributes by exact name: "Name.givenName" and "name.familyName" both go under the first spelling.
func canonicalSpelling(ms []*mapping) {
	seen := map[string]string{}
	for _, m := range ms {
		prefix := strings.ToLower(m.target.URN)
		elems := slices.Clone(m.target.Elems)
		for i, e := range elems {
			prefix += "." + strings.ToLower(e.Name)
			if sp, ok := seen[prefix]; ok {
				elems[i].Name = sp
			} else {
				seen[prefix] = e.Name
			}
			if e.Select != nil {
				prefix += "[" + strings.ToLower(e.Select.Attr) + "]"
			}
		}
		m.target.Elems = elems
	}
}

// setSchemas lists the core schema and the extensions the user has; the candidates are the targets'
// extensions, known at compile time.
func (m *Mapper) setSchemas(u scim.User) {
	schemas := make([]any, 1, 1+len(m.exts))
	schemas[0] = scim.CoreUserSchema
	for _, e := range m.exts {
		if _, ok := u[e]; ok {
			schemas = append(schemas, e)
		}
	}
	u["schemas"] = schemas
}
