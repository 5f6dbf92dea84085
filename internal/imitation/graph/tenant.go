// Package graph is an imitation of Microsoft Graph (v1.0) and of the Microsoft identity platform token endpoint,
// backed by a mutable in-memory Entra tenant. It speaks the real protocol: OAuth client credentials, OData paging
// with absolute links, users/delta and groups/delta with delta and skip tokens, @removed, members@delta, expired
// delta tokens, directoryAudits with initiatedBy, servicePrincipals with appRoleAssignedTo, and throttling with
// Retry-After. Tests and `scim-stream demo` script the tenant through its methods:
//
//	co := graph.NewCompany(nil)                // ~20 people, nested groups, two applications with roles
//	srv := graph.NewServer(co.Tenant)
//	srv.AddClient("demo-client", "demo-secret") // an app registration for auth.oauth.clients
//	ts := srv.Start()                           // HTTPS; ts.Client() trusts it, ts.Certificate() is the CA
//	// general.entra: tenant_id co.ID (or co.Domain), graph_url and login_url ts.URL
//	_ = co.AssignAppRole(co.Admin, co.App1, co.Users["karl.nilsen"], "Employees")
package graph

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"
)

// Actor is who made a change; it appears in the audit log as initiatedBy.user. The zero Actor is an application
// (initiatedBy.app), as for changes made by Entra itself.
type Actor struct {
	ID, UPN, DisplayName string
}

// AppRole is an application role as defined on a service principal.
type AppRole struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
}

// Object states: a soft-deleted object sits in the recycle bin and can be restored; a hard-deleted one is gone.
const (
	active = iota
	softDeleted
	hardDeleted
)

type user struct {
	id         string
	props      map[string]any
	propSeq    map[string]uint64
	manager    string
	managerSeq uint64
	seq        uint64 // last change of any kind
	createdSeq uint64 // creation, or restoration from the recycle bin (the object reappears in full)
	state      int
}

type member struct {
	group bool
}

type memberEvent struct {
	seq     uint64
	id      string
	group   bool
	removed bool
}

type group struct {
	id         string
	props      map[string]any
	propSeq    map[string]uint64
	members    map[string]member
	events     []memberEvent
	seq        uint64
	createdSeq uint64
	deleted    bool
}

type servicePrincipal struct {
	id, appID, displayName string
	roles                  []AppRole
}

type assignment struct {
	id, spID, roleID, principalID string
	group                         bool
	created                       time.Time
}

type audit struct {
	id, category, activity string
	at                     time.Time
	by                     Actor
	targets                []auditTarget
}

type auditTarget struct {
	id, typ, upn, displayName string
}

// Tenant is an in-memory Entra tenant. All methods are safe for concurrent use with the HTTP handler.
type Tenant struct {
	// ID is the tenant id (GUID); Domain its primary domain.
	ID, Domain string

	mu          sync.Mutex
	now         func() time.Time
	seq         uint64
	users       map[string]*user
	userIDs     []string // sorted: delta pages walk it from the skip token's last id
	groups      map[string]*group
	groupIDs    []string
	sps         map[string]*servicePrincipal
	spIDs       []string
	assignments map[string]*assignment
	audits      []audit
	auditDelay  time.Duration
}

// NewTenant returns an empty tenant. now may be nil (wall clock).
func NewTenant(id, domain string, now func() time.Time) *Tenant {
	if now == nil {
		now = time.Now
	}
	return &Tenant{ID: id, Domain: domain, now: now, users: map[string]*user{}, groups: map[string]*group{},
		sps: map[string]*servicePrincipal{}, assignments: map[string]*assignment{}}
}

// SetAuditDelay makes audit rows visible only d after the change, as in Entra where the audit log lags behind the
// directory by seconds to minutes.
func (t *Tenant) SetAuditDelay(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.auditDelay = d
}

// NewID returns a random object id.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatID(b[:])
}

// StableID derives an object id from a name, so seeded objects keep their ids across runs.
func StableID(name string) string {
	sum := sha1.Sum([]byte(name))
	return formatID(sum[:16])
}

func formatID(b []byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func insertSorted(ids []string, id string) []string {
	i := sort.SearchStrings(ids, id)
	if i < len(ids) && ids[i] == id {
		return ids
	}
	return slices.Insert(ids, i, id)
}

func (t *Tenant) next() uint64 { t.seq++; return t.seq }

func (t *Tenant) record(by Actor, category, activity string, targets ...auditTarget) {
	t.audits = append(t.audits, audit{id: NewID(), category: category, activity: activity, at: t.now().UTC(), by: by, targets: targets})
}

func (t *Tenant) userTarget(u *user) auditTarget {
	upn, _ := u.props["userPrincipalName"].(string)
	dn, _ := u.props["displayName"].(string)
	return auditTarget{id: u.id, typ: "User", upn: upn, displayName: dn}
}

func (t *Tenant) groupTarget(g *group) auditTarget {
	dn, _ := g.props["displayName"].(string)
	return auditTarget{id: g.id, typ: "Group", displayName: dn}
}

// AddUser creates a user with the given properties (Graph property names; "manager" is not a property, use
// SetManager). An "id" property chooses the object id; otherwise a random one is assigned. It returns the id.
func (t *Tenant) AddUser(by Actor, props map[string]any) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, _ := props["id"].(string)
	if id == "" {
		id = NewID()
	}
	s := t.next()
	u := &user{id: id, props: map[string]any{}, propSeq: map[string]uint64{}, seq: s, createdSeq: s}
	for k, v := range props {
		if k != "id" {
			u.props[k] = v
			u.propSeq[k] = s
		}
	}
	if _, ok := u.props["accountEnabled"]; !ok {
		u.props["accountEnabled"] = true
		u.propSeq["accountEnabled"] = s
	}
	if _, ok := u.props["userType"]; !ok {
		u.props["userType"] = "Member"
		u.propSeq["userType"] = s
	}
	t.users[id] = u
	t.userIDs = insertSorted(t.userIDs, id)
	t.record(by, "UserManagement", "Add user", t.userTarget(u))
	return id
}

func (t *Tenant) liveUser(id string) (*user, error) {
	u := t.users[id]
	if u == nil || u.state != active {
		return nil, fmt.Errorf("graph imitation: user %s does not exist (or is deleted)", id)
	}
	return u, nil
}

// UpdateUser changes properties of a user; a nil value clears the property.
func (t *Tenant) UpdateUser(by Actor, id string, props map[string]any) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.liveUser(id)
	if err != nil {
		return err
	}
	s := t.next()
	for k, v := range props {
		if v == nil {
			delete(u.props, k)
		} else {
			u.props[k] = v
		}
		u.propSeq[k] = s
	}
	u.seq = s
	t.record(by, "UserManagement", "Update user", t.userTarget(u))
	return nil
}

// SetManager sets (or with managerID "" clears) a user's manager.
func (t *Tenant) SetManager(by Actor, id, managerID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.liveUser(id)
	if err != nil {
		return err
	}
	if managerID != "" {
		if _, err := t.liveUser(managerID); err != nil {
			return err
		}
	}
	s := t.next()
	u.manager, u.managerSeq, u.seq = managerID, s, s
	t.record(by, "UserManagement", "Update user", t.userTarget(u))
	return nil
}

// DeleteUser moves a user to the recycle bin (soft delete): delta reports @removed reason "changed".
func (t *Tenant) DeleteUser(by Actor, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, err := t.liveUser(id)
	if err != nil {
		return err
	}
	u.state, u.seq = softDeleted, t.next()
	t.record(by, "UserManagement", "Delete user", t.userTarget(u))
	return nil
}

// RestoreUser brings a soft-deleted user back.
func (t *Tenant) RestoreUser(by Actor, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[id]
	if u == nil || u.state != softDeleted {
		return fmt.Errorf("graph imitation: user %s is not in the recycle bin", id)
	}
	s := t.next()
	u.state, u.seq, u.createdSeq = active, s, s
	t.record(by, "UserManagement", "Restore user", t.userTarget(u))
	return nil
}

// PurgeUser deletes a user permanently (hard delete, from the recycle bin or directly): delta reports @removed
// reason "deleted". Group memberships and app role assignments of the user go with it.
func (t *Tenant) PurgeUser(by Actor, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[id]
	if u == nil || u.state == hardDeleted {
		return fmt.Errorf("graph imitation: user %s does not exist", id)
	}
	s := t.next()
	u.state, u.seq = hardDeleted, s
	for _, g := range t.groups {
		if _, ok := g.members[id]; ok && !g.deleted {
			delete(g.members, id)
			g.events = append(g.events, memberEvent{seq: s, id: id, removed: true})
			g.seq = s
		}
	}
	for aid, a := range t.assignments {
		if a.principalID == id {
			delete(t.assignments, aid)
		}
	}
	t.record(by, "UserManagement", "Hard Delete user", t.userTarget(u))
	return nil
}

// AddGroup creates a security group and returns its id. id may be "" for a random one.
func (t *Tenant) AddGroup(by Actor, id, displayName string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == "" {
		id = NewID()
	}
	s := t.next()
	g := &group{id: id, members: map[string]member{}, seq: s, createdSeq: s,
		props:   map[string]any{"displayName": displayName, "securityEnabled": true, "mailEnabled": false},
		propSeq: map[string]uint64{"displayName": s, "securityEnabled": s, "mailEnabled": s}}
	t.groups[id] = g
	t.groupIDs = insertSorted(t.groupIDs, id)
	t.record(by, "GroupManagement", "Add group", t.groupTarget(g))
	return id
}

func (t *Tenant) liveGroup(id string) (*group, error) {
	g := t.groups[id]
	if g == nil || g.deleted {
		return nil, fmt.Errorf("graph imitation: group %s does not exist", id)
	}
	return g, nil
}

// RenameGroup changes a group's display name.
func (t *Tenant) RenameGroup(by Actor, id, displayName string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, err := t.liveGroup(id)
	if err != nil {
		return err
	}
	s := t.next()
	g.props["displayName"], g.propSeq["displayName"], g.seq = displayName, s, s
	t.record(by, "GroupManagement", "Update group", t.groupTarget(g))
	return nil
}

// DeleteGroup deletes a group permanently; it disappears from every group it was nested in.
func (t *Tenant) DeleteGroup(by Actor, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, err := t.liveGroup(id)
	if err != nil {
		return err
	}
	s := t.next()
	g.deleted, g.seq = true, s
	for _, p := range t.groups {
		if _, ok := p.members[id]; ok && !p.deleted {
			delete(p.members, id)
			p.events = append(p.events, memberEvent{seq: s, id: id, group: true, removed: true})
			p.seq = s
		}
	}
	for aid, a := range t.assignments {
		if a.principalID == id {
			delete(t.assignments, aid)
		}
	}
	t.record(by, "GroupManagement", "Delete group", t.groupTarget(g))
	return nil
}

// AddMember adds a user or a group (nesting) to a group.
func (t *Tenant) AddMember(by Actor, groupID, memberID string) error {
	return t.membership(by, groupID, memberID, false)
}

// RemoveMember removes a user or a group from a group.
func (t *Tenant) RemoveMember(by Actor, groupID, memberID string) error {
	return t.membership(by, groupID, memberID, true)
}

func (t *Tenant) membership(by Actor, groupID, memberID string, remove bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, err := t.liveGroup(groupID)
	if err != nil {
		return err
	}
	var target auditTarget
	isGroup := false
	if u, err := t.liveUser(memberID); err == nil {
		target = t.userTarget(u)
	} else if mg, err := t.liveGroup(memberID); err == nil {
		target, isGroup = t.groupTarget(mg), true
	} else {
		return fmt.Errorf("graph imitation: member %s is neither a user nor a group", memberID)
	}
	_, has := g.members[memberID]
	if has != remove {
		return nil // already in the requested state; Graph answers 400, the imitation is lenient for scripts
	}
	s := t.next()
	if remove {
		delete(g.members, memberID)
	} else {
		g.members[memberID] = member{group: isGroup}
	}
	g.events = append(g.events, memberEvent{seq: s, id: memberID, group: isGroup, removed: remove})
	g.seq = s
	activity := "Add member to group"
	if remove {
		activity = "Remove member from group"
	}
	t.record(by, "GroupManagement", activity, target, t.groupTarget(g))
	return nil
}

// AddApplication registers an enterprise application (service principal) with app roles and returns the service
// principal's object id. Roles without an id get a stable one derived from the application and the value.
func (t *Tenant) AddApplication(by Actor, id, displayName string, roles ...AppRole) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == "" {
		id = NewID()
	}
	sp := &servicePrincipal{id: id, appID: StableID("app:" + id), displayName: displayName}
	for _, r := range roles {
		if r.ID == "" {
			r.ID = StableID(id + ":" + r.Value)
		}
		sp.roles = append(sp.roles, r)
	}
	t.sps[id] = sp
	t.spIDs = insertSorted(t.spIDs, id)
	t.record(by, "ApplicationManagement", "Add service principal", auditTarget{id: id, typ: "ServicePrincipal", displayName: displayName})
	return id
}

func (t *Tenant) role(spID, value string) (*servicePrincipal, *AppRole, error) {
	sp := t.sps[spID]
	if sp == nil {
		return nil, nil, fmt.Errorf("graph imitation: service principal %s does not exist", spID)
	}
	for i := range sp.roles {
		if sp.roles[i].Value == value {
			return sp, &sp.roles[i], nil
		}
	}
	return nil, nil, fmt.Errorf("graph imitation: application %q has no role %q", sp.displayName, value)
}

// HasAppRole reports whether the principal holds the application's role by a direct assignment (not through a
// group), so that a script can tell an assignment that changes nothing from one that does.
func (t *Tenant) HasAppRole(spID, principalID, roleValue string) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, r, err := t.role(spID, roleValue)
	if err != nil {
		return false, err
	}
	for _, a := range t.assignments {
		if a.spID == spID && a.principalID == principalID && a.roleID == r.ID {
			return true, nil
		}
	}
	return false, nil
}

// AssignAppRole assigns the role with the given value of an application to a user or a group.
func (t *Tenant) AssignAppRole(by Actor, spID, principalID, roleValue string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp, r, err := t.role(spID, roleValue)
	if err != nil {
		return err
	}
	var target auditTarget
	isGroup := false
	if u, err := t.liveUser(principalID); err == nil {
		target = t.userTarget(u)
	} else if g, err := t.liveGroup(principalID); err == nil {
		target, isGroup = t.groupTarget(g), true
	} else {
		return fmt.Errorf("graph imitation: principal %s is neither a user nor a group", principalID)
	}
	for _, a := range t.assignments {
		if a.spID == spID && a.principalID == principalID && a.roleID == r.ID {
			return nil
		}
	}
	a := &assignment{id: NewID(), spID: spID, roleID: r.ID, principalID: principalID, group: isGroup, created: t.now().UTC()}
	t.assignments[a.id] = a
	t.next()
	activity := "Add app role assignment grant to user"
	if isGroup {
		activity = "Add app role assignment to group"
	}
	t.record(by, "ApplicationManagement", activity, target, auditTarget{id: sp.id, typ: "ServicePrincipal", displayName: sp.displayName})
	return nil
}

// UnassignAppRole removes a role assignment.
func (t *Tenant) UnassignAppRole(by Actor, spID, principalID, roleValue string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp, r, err := t.role(spID, roleValue)
	if err != nil {
		return err
	}
	for aid, a := range t.assignments {
		if a.spID == spID && a.principalID == principalID && a.roleID == r.ID {
			delete(t.assignments, aid)
			t.next()
			activity, target := "Remove app role assignment from user", auditTarget{id: principalID, typ: "User"}
			if a.group {
				activity, target = "Remove app role assignment from group", auditTarget{id: principalID, typ: "Group"}
			}
			t.record(by, "ApplicationManagement", activity, target, auditTarget{id: sp.id, typ: "ServicePrincipal", displayName: sp.displayName})
			return nil
		}
	}
	return fmt.Errorf("graph imitation: %s has no role %q of %q", principalID, roleValue, sp.displayName)
}

// User returns a copy of a live user's properties (nil when absent or deleted).
func (t *Tenant) User(id string) map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.users[id]
	if u == nil || u.state != active {
		return nil
	}
	return maps.Clone(u.props)
}

// UserIDs returns the ids of live users, sorted.
func (t *Tenant) UserIDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for _, id := range t.userIDs {
		if t.users[id].state == active {
			ids = append(ids, id)
		}
	}
	return ids
}
