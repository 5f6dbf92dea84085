package entra

import (
	"maps"
	"sort"
)

// Graph JSON shapes, with exactly the fields the collector reads. Users stay untyped: their properties are
// whatever the tenant's mapper selects.

type removedRef struct {
	Reason string `json:"reason"` // "changed": soft delete (restorable); "deleted": gone
}

type memberRef struct {
	Type    string      `json:"@odata.type"`
	ID      string      `json:"id"`
	Removed *removedRef `json:"@removed"`
}

type groupItem struct {
	ID          string      `json:"id"`
	DisplayName *string     `json:"displayName"`
	Removed     *removedRef `json:"@removed"`
	Members     []memberRef `json:"members@delta"`
}

type appRole struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Value       string `json:"value"`
	IsEnabled   bool   `json:"isEnabled"`
}

type servicePrincipal struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	AppRoles    []appRole `json:"appRoles"`
}

type roleAssignment struct {
	AppRoleID     string `json:"appRoleId"`
	PrincipalID   string `json:"principalId"`
	PrincipalType string `json:"principalType"`
}

type set = map[string]struct{}

func add(s set, k string) { s[k] = struct{}{} }

func sorted(s set) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type group struct {
	name    string
	members set // users and groups listed as direct members
}

type app struct {
	name  string
	roles map[string]appRole
	// assigned maps a principal (user or group) to the role ids assigned to it directly.
	assigned map[string]set
}

// directory is the source's in-memory picture of the tenant: the selected user properties, the group graph and
// the app role assignments. Graph's delta queries report changes, not consequences: a member added to a nested
// group changes the transitive memberships and inherited roles of every user below it, so the collector keeps
// the graph and derives those itself.
type directory struct {
	users       map[string]map[string]any
	softDeleted set
	manager     map[string]string // user -> manager id
	groups      map[string]*group
	parents     map[string]set // member id -> groups listing it directly
	apps        map[string]*app
	// appOrder is the sorted keys of apps, kept because every record walks the applications in order (sorting
	// them per user cost a tenth of a 100,000-user initial load); nil after the set of applications changed.
	appOrder []string
}

func newDirectory() *directory {
	return &directory{users: map[string]map[string]any{}, softDeleted: set{}, manager: map[string]string{},
		groups: map[string]*group{}, parents: map[string]set{}, apps: map[string]*app{}}
}

// userChange is the effect of one users/delta item.
type userChange int

const (
	userUpdated userChange = iota
	userSoftDeleted
	userRemoved
)

// applyUser merges one users/delta item. Graph sends, for an existing user, only the properties that changed
// (null for a cleared one), so items are merged into what is known. renamed reports that the user's name or UPN
// changed, which changes the manager attribute of the user's reports.
func (d *directory) applyUser(item map[string]any) (id string, ch userChange, renamed bool) {
	id, _ = item["id"].(string)
	if r, ok := item["@removed"].(map[string]any); ok {
		if r["reason"] == "changed" {
			add(d.softDeleted, id)
			return id, userSoftDeleted, false
		}
		d.removeUser(id)
		return id, userRemoved, false
	}
	delete(d.softDeleted, id)
	if refs, ok := item["manager@delta"].([]any); ok {
		mgr := ""
		for _, r := range refs {
			if m, ok := r.(map[string]any); ok && m["@removed"] == nil {
				mgr, _ = m["id"].(string)
			}
		}
		if mgr == "" {
			delete(d.manager, id)
		} else {
			d.manager[id] = mgr
		}
	}
	u := d.users[id]
	if u == nil {
		// A user seen for the first time keeps the decoded item itself: a full sync of 100,000 users would
		// otherwise hold every user twice until the round is applied.
		delete(item, "manager@delta")
		delete(item, "@odata.type")
		for k, v := range item {
			if v == nil {
				delete(item, k)
			}
		}
		d.users[id] = item
		return id, userUpdated, false
	}
	for k, v := range item {
		if k == "manager@delta" || k == "@odata.type" {
			continue
		}
		if (k == "userPrincipalName" || k == "displayName") && u[k] != v {
			renamed = true
		}
		if v == nil {
			delete(u, k)
		} else {
			u[k] = v
		}
	}
	return id, userUpdated, renamed
}

func (d *directory) removeUser(id string) {
	delete(d.users, id)
	delete(d.softDeleted, id)
	delete(d.manager, id)
	for g := range d.parents[id] {
		if gr := d.groups[g]; gr != nil {
			delete(gr.members, id)
		}
	}
	delete(d.parents, id)
	for _, a := range d.apps {
		delete(a.assigned, id)
	}
}

// applyGroup merges one groups/delta item (possibly one of several carrying parts of a group's members).
func (d *directory) applyGroup(it groupItem) {
	if it.Removed != nil {
		d.removeGroup(it.ID)
		return
	}
	g := d.groups[it.ID]
	if g == nil {
		g = &group{members: set{}}
		d.groups[it.ID] = g
	}
	if it.DisplayName != nil {
		g.name = *it.DisplayName
	}
	for _, m := range it.Members {
		if m.Removed != nil {
			delete(g.members, m.ID)
			if p := d.parents[m.ID]; p != nil {
				delete(p, it.ID)
			}
			continue
		}
		add(g.members, m.ID)
		p := d.parents[m.ID]
		if p == nil {
			p = set{}
			d.parents[m.ID] = p
		}
		add(p, it.ID)
	}
}

func (d *directory) removeGroup(id string) {
	if g := d.groups[id]; g != nil {
		for m := range g.members {
			delete(d.parents[m], id)
		}
	}
	for p := range d.parents[id] {
		if pg := d.groups[p]; pg != nil {
			delete(pg.members, id)
		}
	}
	delete(d.parents, id)
	delete(d.groups, id)
	for _, a := range d.apps {
		delete(a.assigned, id)
	}
}

// ancestors returns every group a principal belongs to, directly or through nesting. Cycles (which Entra
// allows for some group types) end the walk.
func (d *directory) ancestors(id string) set {
	out := set{}
	stack := []string{id}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for p := range d.parents[cur] {
			if _, seen := out[p]; seen || d.groups[p] == nil {
				continue
			}
			add(out, p)
			stack = append(stack, p)
		}
	}
	return out
}

// usersBelow adds to into every user that is a member of group id directly or through nesting.
func (d *directory) usersBelow(id string, into set) {
	seen := set{id: {}}
	stack := []string{id}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		g := d.groups[cur]
		if g == nil {
			continue
		}
		for m := range g.members {
			if _, ok := seen[m]; ok {
				continue
			}
			add(seen, m)
			if _, isGroup := d.groups[m]; isGroup {
				stack = append(stack, m)
			} else {
				add(into, m)
			}
		}
	}
}

// principalUsers adds the users a principal stands for: itself when it is a user, its members when a group.
func (d *directory) principalUsers(id string, into set) {
	if _, isGroup := d.groups[id]; isGroup {
		d.usersBelow(id, into)
		return
	}
	add(into, id)
}

// setApp replaces what is known of an application and its assignments, calling touch (when not nil) with every
// principal whose roles from it may have changed.
func (d *directory) setApp(sp servicePrincipal, assignments []roleAssignment, touch func(principal string)) {
	a := &app{name: sp.DisplayName, roles: map[string]appRole{}, assigned: map[string]set{}}
	for _, r := range sp.AppRoles {
		a.roles[r.ID] = r
	}
	for _, as := range assignments {
		if _, ok := a.roles[as.AppRoleID]; !ok {
			continue // default access (all-zero role id) or a role since removed: nothing to provision
		}
		s := a.assigned[as.PrincipalID]
		if s == nil {
			s = set{}
			a.assigned[as.PrincipalID] = s
		}
		add(s, as.AppRoleID)
	}
	old := d.apps[sp.ID]
	d.apps[sp.ID] = a
	if old == nil {
		d.appOrder = nil
	}
	if touch == nil {
		return
	}
	if old == nil || old.name != a.name || !maps.EqualFunc(old.roles, a.roles, func(x, y appRole) bool { return x == y }) {
		for p := range a.assigned {
			touch(p)
		}
		if old != nil {
			for p := range old.assigned {
				touch(p)
			}
		}
		return
	}
	for p, roles := range a.assigned {
		if !maps.Equal(roles, old.assigned[p]) {
			touch(p)
		}
	}
	for p := range old.assigned {
		if _, ok := a.assigned[p]; !ok {
			touch(p)
		}
	}
}

// dropApp forgets an application that no longer exists or is no longer in scope.
func (d *directory) dropApp(id string, touch func(principal string)) {
	if a := d.apps[id]; a != nil {
		for p := range a.assigned {
			touch(p)
		}
	}
	delete(d.apps, id)
	d.appOrder = nil
}

// appIDs returns the application ids, sorted.
func (d *directory) appIDs() []string {
	if d.appOrder == nil {
		d.appOrder = sorted(setOf(d.apps))
	}
	return d.appOrder
}

// reports adds the direct reports of a manager.
func (d *directory) reports(mgr string, into set) {
	for u, m := range d.manager {
		if m == mgr {
			add(into, u)
		}
	}
}
