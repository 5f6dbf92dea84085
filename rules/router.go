package rules

import (
	"fmt"

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
func (r *Router) Route(previous, current scim.User, top Fields) []Delivery {
	// The bookkeeping of both views is allocated together: Route runs for every change of every user.
	n := len(r.terms)
	views := new([2]view)
	state := make([]uint8, 2*n)
	bits := make([][]uint64, 2*n)
	prev, cur := &views[0], &views[1]
	runes := new([]rune)
	r.initView(prev, previous, top, state[:n], bits[:n], runes)
	r.initView(cur, current, top, state[n:], bits[n:], runes)
	out := make([]Delivery, len(r.channels))
	for i := range r.channels {
		ch := &r.channels[i]
		d := Delivery{Channel: ch.name, Matched: cur.matchesAny(ch), PreviouslyMatched: prev.matchesAny(ch)}
		if d.Matched || d.PreviouslyMatched {
			d.Previous = prev.prune(ch)
			d.Current = cur.prune(ch)
		}
		out[i] = d
	}
	return out
}

// view is one user (previous or current) being routed, with the term results computed so far.
type view struct {
	r      *Router
	user   scim.User
	fields Fields
	gKey   string
	groups []any
	rKey   string
	roles  []any
	state  []uint8 // per term: 0 not evaluated, 1 false, 2 true
	// bits are the group or role elements each groups/roles term selected.
	bits [][]uint64
	// runes is the regex engine's input buffer, shared by both views of one Route call.
	runes *[]rune
}

func (r *Router) initView(v *view, u scim.User, top Fields, state []uint8, bits [][]uint64, runes *[]rune) {
	*v = view{r: r, user: u, fields: top, state: state, bits: bits, runes: runes}
	if u != nil {
		v.gKey, v.groups = elementsOf(u, "groups")
		v.rKey, v.roles = elementsOf(u, "roles")
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
		v.bits[n], ok = selectElements(t, v.groups, v.runes)
	case t.path.kind == rolesPath:
		v.bits[n], ok = selectElements(t, v.roles, v.runes)
	default:
		ok = t.matches(v.user, v.fields)
	}
	v.state[n] = 1
	if ok {
		v.state[n] = 2
	}
	return ok
}

func selectElements(t *term, elems []any, runes *[]rune) ([]uint64, bool) {
	var bits []uint64
	for i, e := range elems {
		if t.path.selects(e, t.pat, runes) {
			if bits == nil {
				bits = make([]uint64, (len(elems)+63)/64)
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

// prune returns the user as the channel sees it: every attribute except dynamicIds, but only the groups and roles selected by the
// non-exclude terms of the filters this user satisfies, minus those selected by their -exclude terms. A filter
// with (.*) keeps all of them; a filter without groups/roles terms keeps none.
func (v *view) prune(ch *channel) scim.User {
	if v.user == nil {
		return nil
	}
	var all bool
	words := (len(v.groups)+63)/64 + (len(v.roles)+63)/64
	bits := make([]uint64, 2*words) // in and out sets for groups, then roles
	gw := (len(v.groups) + 63) / 64
	gIn, gOut := bits[:gw], bits[gw:2*gw]
	rIn, rOut := bits[2*gw:words+gw], bits[words+gw:]
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
	var groups, roles any
	same := true
	if v.gKey != "" {
		groups = keep(v.user[v.gKey], v.groups, all, gIn, gOut)
		same = sameList(groups, v.user[v.gKey])
	}
	if v.rKey != "" {
		roles = keep(v.user[v.rKey], v.roles, all, rIn, rOut)
		same = same && sameList(roles, v.user[v.rKey])
	}
	_, dyn := v.user[DynamicIDs]
	if same && !dyn {
		return v.user // nothing pruned: the view is the user itself (read-only for callers)
	}
	u := make(scim.User, len(v.user))
	for k, val := range v.user {
		u[k] = val
	}
	delete(u, DynamicIDs)
	if v.gKey != "" {
		u[v.gKey] = groups
	}
	if v.rKey != "" {
		u[v.rKey] = roles
	}
	return u
}

// sameList reports whether keep returned the original list value.
func sameList(kept, orig any) bool {
	a, ok1 := kept.([]any)
	b, ok2 := orig.([]any)
	if !ok1 || !ok2 {
		return !ok2 // orig is not a list: keep returned it as it was
	}
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// keep filters elements: a kept-everything list is shared as it is; otherwise a new (possibly empty) list, so
// that the message states "no groups" for this channel rather than omitting the attribute.
func keep(orig any, elems []any, all bool, in, out []uint64) any {
	if elems == nil {
		return orig // not a list: left as the source gave it
	}
	if all && !anyBits(out) {
		return orig
	}
	if !all && !anyBits(in) {
		return []any{} // nothing kept (and nothing allocated)
	}
	kept := make([]any, 0, len(elems))
	for i, e := range elems {
		bit := uint64(1) << (i % 64)
		if (all || in[i/64]&bit != 0) && out[i/64]&bit == 0 {
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

func anyBits(b []uint64) bool {
	for _, w := range b {
		if w != 0 {
			return true
		}
	}
	return false
}
