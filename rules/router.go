package rules

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
)

// Router routes users to the channels of one tenant. It is compiled once per configuration snapshot and is safe
// for concurrent use.
type Router struct {
	channels []channel
	// terms are the distinct (path, pattern) terms of every channel: a Route evaluates each at most once per user
	// view, however many channels share it.
	terms []*term
}

type channel struct {
	name    string
	filters []filterRef
}

// filterRef is one filter of a channel: indexes into Router.terms, with their -exclude flags (the same term can
// be an exclusion in one filter and an inclusion in another).
type filterRef struct {
	terms   []int
	exclude []bool
	// all: the filter has a (.*) term, so it keeps every group and role.
	all bool
}

// Delivery is the routing decision for one channel. Previous and Current are the user views pruned to the groups
// and roles the channel carries (nil when that user is nil, and both nil when neither matched); the caller
// computes the message's Operations as scim.Diff(Previous, Current) and publishes when Matched ||
// PreviouslyMatched and the operations are not empty. The views share unchanged values with the users given to
// Route: treat them as read-only.
type Delivery struct {
	Channel                    string
	Previous, Current          scim.User
	Matched, PreviouslyMatched bool
}

// Compile compiles every stream's rules. All problems are returned together as Errors, each naming
// streams[i].rules[j].filter, the channel, the line and the column.
func Compile(streams []config.Stream) (*Router, error) {
	r := &Router{}
	index := map[string]int{}
	var errs Errors
	for i, s := range streams {
		ch := channel{name: s.Channel}
		if len(s.Rules) == 0 {
			errs = append(errs, &Error{Key: fmt.Sprintf("streams[%d].rules", i), Channel: s.Channel, Msg: "at least one filter is needed, e.g. - filter: (.*)"})
		}
		for j, rule := range s.Rules {
			key := fmt.Sprintf("streams[%d].rules[%d].filter", i, j)
			f, err := CompileFilter(rule.Filter)
			if err != nil {
				e := at(err, key, rule.Line)
				e.Channel = s.Channel
				errs = append(errs, e)
				continue
			}
			var ref filterRef
			for _, t := range f.terms {
				if t.all {
					ref.all = true
					continue
				}
				id := t.path.src + "\x00" + t.pat.src
				n, ok := index[id]
				if !ok {
					n = len(r.terms)
					index[id] = n
					r.terms = append(r.terms, t)
				}
				ref.terms = append(ref.terms, n)
				ref.exclude = append(ref.exclude, t.exclude)
			}
			ch.filters = append(ch.filters, ref)
		}
		r.channels = append(r.channels, ch)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// Channels are the channel names in configuration order.
func (r *Router) Channels() []string {
	out := make([]string, len(r.channels))
	for i, c := range r.channels {
		out[i] = c.name
	}
	return out
}

// Route decides, for every channel in configuration order, whether the change from previous to current concerns
// it. Matched: current satisfies one of the channel's filters; PreviouslyMatched: previous did, so a user leaving
// the channel's scope still gets one message (with the groups/roles it lost). Message fields (top) describe the
// change being routed, so both are judged with them: a change that fails a term such as
// (initiatedByUpn -match "(?!Sync_.*)") reaches neither side, whatever the previous state.
//
// Channels that keep the same groups and roles of a user share one view of it.
func (r *Router) Route(previous, current scim.User, top Fields) []Delivery {
	ds, _ := r.RouteErr(previous, current, top)
	return ds
}

// RouteErr is Route that reports a regex match time-out (TimeoutError, naming the channel and the pattern): the
// deliveries are then not to be published, since a channel's answer is unknown.
func (r *Router) RouteErr(previous, current scim.User, top Fields) ([]Delivery, error) {
	st := statePool.Get().(*routeState)
	defer st.release()
	n := len(r.terms)
	if cap(st.state) < 2*n {
		st.state, st.bits = make([]uint8, 2*n), make([][]uint64, 2*n)
	}
	st.state, st.bits = st.state[:2*n], st.bits[:2*n]
	clear(st.state)
	prev, cur := &st.views[0], &st.views[1]
	st.initView(prev, r, previous, top, st.state[:n], st.bits[:n], 0)
	st.initView(cur, r, current, top, st.state[n:], st.bits[n:], 1)
	prev.other, cur.other = cur, prev
	out := make([]Delivery, len(r.channels))
	for i := range r.channels {
		ch := &r.channels[i]
		st.sc.channel = ch.name
		d := Delivery{Channel: ch.name, Matched: cur.matchesAny(ch), PreviouslyMatched: prev.matchesAny(ch)}
		if d.Matched || d.PreviouslyMatched {
			d.Previous = prev.prune(ch)
			d.Current = cur.prune(ch)
		}
		out[i] = d
	}
	return out, st.sc.err()
}

// routeState is the bookkeeping of one Route call. Route runs for every change of every user, so it is pooled:
// a call allocates only its result and the views it hands out.
type routeState struct {
	views [2]view
	state []uint8
	bits  [][]uint64
	// slab holds the element bit sets (term results, prune's work space and the kept sets of pruned views), attrs
	// the element attribute caches; both are handed out in pieces and reset by release.
	slab  []uint64
	attrs [][numElemAttrs]elemAttr
	sc    scratch // the regex engine's rune buffer and the call's first time-out
	// pruned keeps each view's pruned-view list between calls, for its capacity.
	pruned [2][]prunedView
}

var statePool = sync.Pool{New: func() any { return new(routeState) }}

// words returns n zeroed words of the slab.
func (st *routeState) words(n int) []uint64 {
	if cap(st.slab)-len(st.slab) < n {
		// The pieces handed out so far keep the old array; the next call starts with a slab of the new size.
		st.slab = make([]uint64, 0, max(2*cap(st.slab), n, 64))
	}
	i := len(st.slab)
	st.slab = st.slab[:i+n]
	b := st.slab[i : i+n : i+n]
	clear(b)
	return b
}

// attrRows returns n cleared attribute rows.
func (st *routeState) attrRows(n int) [][numElemAttrs]elemAttr {
	if cap(st.attrs)-len(st.attrs) < n {
		st.attrs = make([][numElemAttrs]elemAttr, 0, max(2*cap(st.attrs), n, 16))
	}
	i := len(st.attrs)
	st.attrs = st.attrs[:i+n]
	b := st.attrs[i : i+n : i+n]
	clear(b)
	return b
}

// release drops every reference to the call's users and returns the state to the pool.
func (st *routeState) release() {
	for i := range st.views {
		st.pruned[i] = st.views[i].views[:0]
		clear(st.pruned[i][:cap(st.pruned[i])])
		st.views[i] = view{}
	}
	clear(st.bits)
	clear(st.attrs)
	st.sc.timeout, st.sc.channel = nil, ""
	st.slab, st.attrs = st.slab[:0], st.attrs[:0]
	statePool.Put(st)
}

// view is one user (previous or current) being routed, with the term results computed so far.
type view struct {
	r      *Router
	user   scim.User
	fields Fields
	gKey   string
	rKey   string
	groups elemTable
	roles  elemTable
	state  []uint8 // per term: 0 not evaluated, 1 false, 2 true
	// bits are the group or role elements each groups/roles term selected.
	bits [][]uint64
	// st is the call's state; its runes are the regex engine's input buffer, shared by both views.
	st *routeState
	// other is the other view of the same Route call: most elements of the previous and the current user are the
	// same, so a regex answer for an element is taken from the other view when its text is the same.
	other *view
	// views are the pruned views made so far, by the groups and roles they keep; scratch is prune's work space.
	views   []prunedView
	scratch []uint64
}

type prunedView struct {
	keep []uint64 // kept groups, then kept roles
	user scim.User
}

// elemTable is a view's groups or roles with the element attributes the terms test, each read from its element
// once however many terms test it.
type elemTable struct {
	elems []any
	attrs [][numElemAttrs]elemAttr
}

// elemAttr is one attribute of an element: unread, absent (or not text), text from a number or boolean, or a string.
type elemAttr struct {
	s    string
	kind uint8
}

const (
	attrUnread uint8 = iota
	attrAbsent
	attrScalar
	attrString
)

// attr returns element i's attribute a (an index into elementAttrs).
func (t *elemTable) attr(i, a int) elemAttr {
	c := &t.attrs[i][a]
	if c.kind == attrUnread {
		c.kind = attrAbsent
		if m, ok := t.elems[i].(map[string]any); ok {
			if k, ok := lookup(m, elementAttrs[a]); ok {
				if s, ok := m[k].(string); ok {
					c.s, c.kind = s, attrString
				} else if s, ok := scalar(m[k]); ok {
					c.s, c.kind = s, attrScalar
				}
			}
		}
	}
	return *c
}

// selected reports whether element i passes the path's type selector (see hasSelector).
func (t *elemTable) selected(i int, sel string) bool {
	for _, a := range [...]int{attrType, attrAppID} {
		if c := t.attr(i, a); c.kind == attrString && strings.EqualFold(c.s, sel) {
			return true
		}
	}
	return false
}

func (st *routeState) initView(v *view, r *Router, u scim.User, top Fields, state []uint8, bits [][]uint64, i int) {
	*v = view{r: r, user: u, fields: top, state: state, bits: bits, st: st, views: st.pruned[i][:0]}
	if u != nil {
		v.gKey, v.groups.elems = elementsOf(u, "groups")
		v.rKey, v.roles.elems = elementsOf(u, "roles")
		v.groups.attrs = st.attrRows(len(v.groups.elems))
		v.roles.attrs = st.attrRows(len(v.roles.elems))
	}
}

func (v *view) term(n int) bool {
	if s := v.state[n]; s != 0 {
		return s == 2
	}
	t := v.r.terms[n]
	var ok bool
	switch {
	case v.user == nil && t.path.kind != fieldPath:
	case t.path.kind == groupsPath:
		v.bits[n], ok = v.selectElements(n, &v.groups, &v.other.groups)
	case t.path.kind == rolesPath:
		v.bits[n], ok = v.selectElements(n, &v.roles, &v.other.roles)
	default:
		ok = t.matches(v.user, v.fields, &v.st.sc)
	}
	v.state[n] = 1
	if ok {
		v.state[n] = 2
	}
	return ok
}

// selectElements evaluates groups/roles term n on every element of tab. A regex answer is reused from the other
// view when it evaluated the term and its element at the same index has the same text (the usual case: a change
// rarely reorders memberships), since the regex engine is the one expensive step.
func (v *view) selectElements(n int, tab, other *elemTable) ([]uint64, bool) {
	t := v.r.terms[n]
	var otherBits []uint64
	reuse := t.pat.kind == patRegex && v.other.state[n] != 0
	if reuse {
		otherBits = v.other.bits[n]
	}
	var bits []uint64
	for i := range tab.elems {
		if t.path.sel != "" && !tab.selected(i, t.path.sel) {
			continue
		}
		var ok bool
		if t.path.attrIdx < 0 {
			m, isMap := tab.elems[i].(map[string]any)
			ok = isMap && t.path.selectsAttr(m, t.pat, &v.st.sc)
		} else if c := tab.attr(i, t.path.attrIdx); c.kind >= attrScalar {
			if reuse && i < len(other.elems) && other.attrs[i][t.path.attrIdx].kind >= attrScalar && other.attrs[i][t.path.attrIdx].s == c.s &&
				(t.path.sel == "" || other.selected(i, t.path.sel)) {
				ok = i/64 < len(otherBits) && otherBits[i/64]&(1<<(i%64)) != 0
			} else {
				ok = t.pat.matchBuf(c.s, &v.st.sc)
			}
		}
		if ok {
			if bits == nil {
				bits = v.st.words((len(tab.elems) + 63) / 64)
			}
			bits[i/64] |= 1 << (i % 64)
		}
	}
	return bits, bits != nil
}

func (v *view) filterMatches(f *filterRef) bool {
	if v.user == nil {
		// A user that does not exist is in no channel, even one whose filter tests message fields only.
		return false
	}
	for _, n := range f.terms {
		if !v.term(n) {
			return false
		}
	}
	return true
}

func (v *view) matchesAny(ch *channel) bool {
	for i := range ch.filters {
		if v.filterMatches(&ch.filters[i]) {
			return true
		}
	}
	return false
}

// DynamicIDs is the user attribute where dynamics list the ids in force. Rules select on it, but it is SCIM
// Stream's routing data, not a SCIM attribute: messages never carry it (a strict SCIM endpoint would reject it).
const DynamicIDs = "dynamicIds"

// prune returns the user as the channel sees it: every attribute except dynamicIds, but only the groups and roles
// selected by the non-exclude terms of the filters this user satisfies, minus those selected by their -exclude
// terms. A filter with (.*) keeps all of them; a filter without groups/roles terms keeps none. Channels keeping the
// same elements get the same view.
func (v *view) prune(ch *channel) scim.User {
	if v.user == nil {
		return nil
	}
	ng, nr := len(v.groups.elems), len(v.roles.elems)
	gw, rw := (ng+63)/64, (nr+63)/64
	words := gw + rw
	if v.scratch == nil {
		v.scratch = v.st.words(3 * words)
	} else {
		clear(v.scratch)
	}
	// in and out sets for groups and roles, then the kept sets.
	in, out, keepBits := v.scratch[:words], v.scratch[words:2*words], v.scratch[2*words:]
	gIn, rIn := in[:gw], in[gw:]
	gOut, rOut := out[:gw], out[gw:]
	var all bool
	for i := range ch.filters {
		f := &ch.filters[i]
		if !v.filterMatches(f) {
			continue
		}
		all = all || f.all
		for k, n := range f.terms {
			var in, out []uint64
			switch v.r.terms[n].path.kind {
			case groupsPath:
				in, out = gIn, gOut
			case rolesPath:
				in, out = rIn, rOut
			default:
				continue
			}
			if f.exclude[k] {
				orBits(out, v.bits[n])
			} else {
				orBits(in, v.bits[n])
			}
		}
	}
	for i := range keepBits {
		if all {
			keepBits[i] = ^out[i]
		} else {
			keepBits[i] = in[i] &^ out[i]
		}
	}
	trim(keepBits[:gw], ng)
	trim(keepBits[gw:], nr)
	for _, pv := range v.views {
		if slices.Equal(pv.keep, keepBits) {
			return pv.user
		}
	}
	u := v.build(keepBits[:gw], keepBits[gw:])
	kept := v.st.words(len(keepBits))
	copy(kept, keepBits)
	v.views = append(v.views, prunedView{keep: kept, user: u})
	return u
}

// trim clears the bits past the n elements of a list.
func trim(b []uint64, n int) {
	if n%64 != 0 && len(b) > 0 {
		b[len(b)-1] &= 1<<(n%64) - 1
	}
}

// build makes the view keeping the given groups and roles. A list kept whole is shared as it is; otherwise a new
// (possibly empty) list, so that the message states "no groups" for this channel rather than omitting the
// attribute. An attribute that is not a list is left as the source gave it.
func (v *view) build(gKeep, rKeep []uint64) scim.User {
	_, dyn := v.user[DynamicIDs]
	gAll := v.groups.elems == nil || countBits(gKeep) == len(v.groups.elems)
	rAll := v.roles.elems == nil || countBits(rKeep) == len(v.roles.elems)
	if gAll && rAll && !dyn {
		return v.user // nothing pruned: the view is the user itself (read-only for callers)
	}
	u := maps.Clone(v.user)
	delete(u, DynamicIDs)
	if !gAll {
		u[v.gKey] = keep(v.groups.elems, gKeep)
	}
	if !rAll {
		u[v.rKey] = keep(v.roles.elems, rKeep)
	}
	return u
}

func countBits(b []uint64) int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// keep returns the elements whose bit is set.
func keep(elems []any, bits []uint64) []any {
	kept := make([]any, 0, countBits(bits))
	for i, e := range elems {
		if bits[i/64]&(1<<(i%64)) != 0 {
			kept = append(kept, e)
		}
	}
	return kept
}

func orBits(dst, src []uint64) {
	for i := range src {
		dst[i] |= src[i]
	}
}
