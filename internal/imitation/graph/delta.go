package graph

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"sort"
)

// syncState is what a delta or skip token encodes. Real tokens are opaque; clients must not look inside, and the
// collector does not.
type syncState struct {
	Kind   string   `json:"k"`
	Since  uint64   `json:"s"`           // changes after this sequence number
	Upto   uint64   `json:"u,omitempty"` // skip token: the round's start; becomes the next delta token's Since
	After  string   `json:"a,omitempty"` // skip token: last object id visited
	Offset int      `json:"o,omitempty"` // skip token: member entries of After already sent
	Select []string `json:"sel,omitempty"`
	Issued int64    `json:"t"`
	Gen    int      `json:"g"`
}

func (s syncState) encode() string {
	b, _ := json.Marshal(s)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeState(tok string) (syncState, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return syncState{}, false
	}
	var s syncState
	if json.Unmarshal(b, &s) != nil {
		return syncState{}, false
	}
	return s, true
}

var removedChanged = map[string]any{"reason": "changed"}
var removedDeleted = map[string]any{"reason": "deleted"}

// startAt is the index of the first id after the skip token's cursor.
func startAt(ids []string, after string, offset int) int {
	if after == "" {
		return 0
	}
	i := sort.SearchStrings(ids, after)
	if i < len(ids) && ids[i] == after && offset == 0 {
		i++
	}
	return i
}

// usersPage returns one page of users/delta. next is nil when the round is complete (the caller then issues a
// delta link with Since = st.Upto).
func (t *Tenant) usersPage(st syncState, size int) (items []map[string]any, next *syncState) {
	sel := st.Select
	wantManager := slices.Contains(sel, "manager")
	for i := startAt(t.userIDs, st.After, 0); i < len(t.userIDs); i++ {
		u := t.users[t.userIDs[i]]
		if len(items) == size {
			n := st
			n.After = t.userIDs[i-1]
			return items, &n
		}
		if st.Since == 0 {
			if u.state != active {
				continue
			}
		} else if u.seq <= st.Since {
			continue
		}
		switch u.state {
		case hardDeleted:
			items = append(items, map[string]any{"id": u.id, "@removed": removedDeleted})
			continue
		case softDeleted:
			items = append(items, map[string]any{"id": u.id, "@removed": removedChanged})
			continue
		}
		full := st.Since == 0 || u.createdSeq > st.Since
		o := map[string]any{"id": u.id}
		for _, p := range sel {
			if p == "manager" || p == "id" {
				continue
			}
			if !full && u.propSeq[p] <= st.Since {
				continue
			}
			o[p] = u.props[p] // nil when cleared: Graph sends null for a property that was removed
		}
		if wantManager && (full && u.manager != "" || !full && u.managerSeq > st.Since) {
			ref := []any{}
			if u.manager != "" {
				ref = append(ref, map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.manager})
			}
			o["manager@delta"] = ref
		}
		items = append(items, o)
	}
	return items, nil
}

// groupsPage returns one page of groups/delta. A group's members@delta may be split over several pages, each
// repeating the group id, as Graph does for large groups.
func (t *Tenant) groupsPage(st syncState, size int) (items []map[string]any, next *syncState) {
	wantMembers := slices.Contains(st.Select, "members")
	units := 0
	for i := startAt(t.groupIDs, st.After, st.Offset); i < len(t.groupIDs); i++ {
		g := t.groups[t.groupIDs[i]]
		offset := 0
		if g.id == st.After {
			offset = st.Offset
		}
		if st.Since == 0 {
			if g.deleted {
				continue
			}
		} else if g.seq <= st.Since {
			continue
		}
		if units >= size {
			n := st
			n.After, n.Offset = t.groupIDs[i-1], 0
			return items, &n
		}
		if g.deleted {
			items = append(items, map[string]any{"id": g.id, "@removed": removedDeleted})
			units++
			continue
		}
		full := st.Since == 0 || g.createdSeq > st.Since
		o := map[string]any{"id": g.id}
		if offset == 0 {
			for _, p := range st.Select {
				if p == "members" || p == "id" {
					continue
				}
				if full || g.propSeq[p] > st.Since {
					o[p] = g.props[p]
				}
			}
		}
		units++
		if !wantMembers {
			items = append(items, o)
			continue
		}
		entries := t.memberDelta(g, st.Since, full)
		rest := entries[min(offset, len(entries)):]
		room := max(size-units, 1)
		if len(rest) > room {
			o["members@delta"] = rest[:room]
			items = append(items, o)
			n := st
			n.After, n.Offset = g.id, offset+room
			return items, &n
		}
		if len(rest) > 0 || offset == 0 {
			o["members@delta"] = rest
			units += len(rest)
			items = append(items, o)
		}
	}
	return items, nil
}

// memberDelta is the net membership change of g since a sequence number, sorted by member id.
func (t *Tenant) memberDelta(g *group, since uint64, full bool) []any {
	typ := func(isGroup bool) string {
		if isGroup {
			return "#microsoft.graph.group"
		}
		return "#microsoft.graph.user"
	}
	var out []any
	if full {
		ids := make([]string, 0, len(g.members))
		for id := range g.members {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			out = append(out, map[string]any{"@odata.type": typ(g.members[id].group), "id": id})
		}
		return out
	}
	last := map[string]memberEvent{}
	for _, e := range g.events {
		if e.seq > since {
			last[e.id] = e
		}
	}
	ids := make([]string, 0, len(last))
	for id := range last {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := last[id]
		m := map[string]any{"@odata.type": typ(e.group), "id": id}
		if e.removed {
			m["@removed"] = removedDeleted
		}
		out = append(out, m)
	}
	return out
}
