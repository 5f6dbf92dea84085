package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// Action is what applying a message did.
type Action string

const (
	ActionCreated  Action = "created"
	ActionReplaced Action = "replaced"
	ActionModified Action = "modified"
	ActionDeleted  Action = "deleted"
	// ActionUnchanged: the user already was as the message says (a redelivery, a change outside this channel).
	ActionUnchanged Action = "unchanged"
	// ActionSkipped: nothing to do (modifyOnly, an inactive user that does not exist, a delete of an absent user).
	ActionSkipped Action = "skipped"
	// ActionTerminated: the message can never succeed; it is terminated (not redelivered) and logged.
	ActionTerminated Action = "terminated"
	// ActionRetrying: the endpoint failed; the message is nak'ed and comes back after a back-off.
	ActionRetrying Action = "retrying"
)

// Result is the outcome of one message.
type Result struct {
	Action        Action
	UserName      string
	UserID        string
	Reason        string
	GroupsAdded   []string
	GroupsRemoved []string
	// Warning is set when the message could be applied only in part (logged with the message's Msg-Id).
	Warning string
}

// permanentError marks a message that can never succeed: it is terminated rather than retried.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func permanent(format string, args ...any) error {
	return &permanentError{fmt.Sprintf(format, args...)}
}

// isPermanent reports whether err means "never retry".
func isPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p) || errors.Is(err, endpoint.ErrInvalid)
}

// entityOptions are the processing options of one subscriber entity.
type entityOptions struct {
	softSync bool
	Entity
}

// applier applies stream messages to an endpoint with the SCIM Gateway subscriber's semantics.
type applier struct {
	ep   endpoint.Endpoint
	opts entityOptions

	// groupIDs caches group value -> endpoint id; an id that turns out stale is dropped and looked up again.
	mu       sync.Mutex
	groupIDs map[string]string
}

func newApplier(ep endpoint.Endpoint, opts entityOptions) *applier {
	return &applier{ep: ep, opts: opts, groupIDs: map[string]string{}}
}

// decodeMessage parses a message body; a body that is not a message with a user and a userName is permanent.
func decodeMessage(data []byte) (*wire.Message, string, error) {
	m, name, err := wire.Decode(data)
	if err != nil {
		return nil, "", permanent("%v", err)
	}
	return m, name, nil
}

// prepared is a message turned into what the endpoint gets.
type prepared struct {
	user     scim.User // attributes for create/replace/modify (no groups, no onCreate, roles only if kept)
	onCreate map[string]any
	groups   []groupRef // memberships the user has in this channel
	removed  []groupRef // memberships an Operation removed
	// lastRemoved: an Operation removed a group or role and the user has none left in this channel.
	lastRemoved bool
	inactive    bool
	// unnamed lists groups/roles removals that name no value ({"op":"remove","path":"roles"}): the memberships
	// they ended cannot be told from others the user has, so they stay.
	unnamed []string
}

func (a *applier) prepare(m *wire.Message) prepared {
	u := scim.User(scim.CloneValue(map[string]any(m.User)).(map[string]any))
	p := prepared{}
	if oc, ok := u[scim.CreateOnly].(map[string]any); ok {
		p.onCreate = oc
	}
	delete(u, scim.CreateOnly)
	replaceDomains(u, a.opts.ReplaceDomains)
	replaceDomains(p.onCreate, a.opts.ReplaceDomains)
	if b, ok := boolOf(u["active"]); ok {
		u["active"] = b
		p.inactive = !b
	}
	delete(u, "id")
	delete(u, "meta")

	groups, _ := u["groups"].([]any)
	delete(u, "groups")
	for _, g := range groups {
		if r, ok := refOf(g); ok {
			p.groups = append(p.groups, r)
		}
	}
	roles, _ := u["roles"].([]any)
	convert := !a.opts.SkipConvertRolesToGroups
	if convert {
		delete(u, "roles")
		for _, r := range roles {
			if g, ok := roleGroup(r); ok {
				p.groups = append(p.groups, g)
			}
		}
	}
	hadRemove := false
	for _, op := range m.Operations {
		if !strings.EqualFold(op.Op, scim.OpRemove) {
			continue
		}
		path, err := scim.ParsePath(op.Path)
		if err != nil {
			continue
		}
		attr := strings.ToLower(path.Elems[0].Name)
		if path.URN != "" || (attr != "groups" && attr != "roles") {
			if a.opts.softSync {
				removedAttr(u, op.Path)
			}
			continue
		}
		hadRemove = true
		if attr == "roles" && !convert {
			// The roles attribute arrives whole in the user; without it none are left, which soft sync must
			// write as a removal.
			if _, has := u["roles"]; !has && a.opts.softSync {
				u["roles"] = nil
			}
			continue
		}
		var refs []groupRef
		if sel := path.Elems[0].Select; sel != nil && strings.EqualFold(sel.Attr, "value") {
			if v, ok := sel.Value.(string); ok {
				refs = append(refs, groupRef{Value: v, Display: v})
			}
		}
		vals, _ := op.Value.([]any)
		if op.Value != nil && vals == nil {
			vals = []any{op.Value}
		}
		for _, v := range vals {
			var r groupRef
			var ok bool
			if attr == "roles" {
				r, ok = roleGroup(v)
			} else {
				r, ok = refOf(v)
			}
			if ok {
				refs = append(refs, r)
			}
		}
		if len(refs) == 0 && op.Value == nil && path.Elems[0].Select == nil {
			p.unnamed = append(p.unnamed, attr)
		}
		for _, r := range refs {
			if !hasRef(p.groups, r.Value) { // still granted another way (e.g. a role and a group with one value)
				p.removed = append(p.removed, r)
			}
		}
	}
	keptRoles := 0
	if !convert {
		keptRoles = len(roles)
	}
	p.lastRemoved = hadRemove && len(p.groups) == 0 && keptRoles == 0
	p.user = u
	return p
}

func hasRef(refs []groupRef, value string) bool {
	for _, r := range refs {
		if strings.EqualFold(r.Value, value) {
			return true
		}
	}
	return false
}

// apply applies one message. Applying the same message again leaves the endpoint as it is (idempotent).
func (a *applier) apply(ctx context.Context, m *wire.Message) (Result, error) {
	p := a.prepare(m)
	name, _ := p.user["userName"].(string)
	res := Result{UserName: name}
	if name == "" {
		return res, permanent("message user has no userName (the lookup key)")
	}
	existing, err := a.find(ctx, name)
	if err != nil {
		return res, err
	}
	deleting := m.ActivityOperation == wire.DeleteUser || (p.lastRemoved && a.opts.DeleteUserOnLastGroupRoleRemoval)
	switch {
	case deleting && a.opts.ModifyOnly && m.ActivityOperation == wire.DeleteUser:
		res.Action, res.Reason = ActionSkipped, "modifyOnly: deleteUser is ignored"
		return res, nil
	case deleting && !a.opts.ModifyOnly:
		if existing == nil {
			res.Action, res.Reason = ActionSkipped, "user does not exist (already deleted)"
			return res, nil
		}
		res.UserID = idOf(existing)
		if err := a.ep.DeleteUser(ctx, res.UserID); err != nil && !errors.Is(err, endpoint.ErrNotFound) {
			return res, err
		}
		res.Action = ActionDeleted
		if m.ActivityOperation != wire.DeleteUser {
			res.Reason = "last group/role removed (deleteUserOnLastGroupRoleRemoval)"
		}
		return res, nil
	case existing == nil && a.opts.ModifyOnly:
		res.Action, res.Reason = ActionSkipped, "modifyOnly: user does not exist and is not created"
		return res, nil
	case existing == nil && p.inactive:
		res.Action, res.Reason = ActionSkipped, "inactive user does not exist and is not created"
		return res, nil
	case existing == nil:
		created, err := a.create(ctx, p)
		if errors.Is(err, endpoint.ErrConflict) { // created meanwhile (another entity, a retry): update it instead
			if existing, err = a.find(ctx, name); err != nil {
				return res, err
			}
			if existing == nil {
				return res, fmt.Errorf("user %q: create conflicted but the user cannot be found: %w", name, endpoint.ErrUnavailable)
			}
			break
		}
		if err != nil {
			return res, err
		}
		res.Action, res.UserID = ActionCreated, idOf(created)
	}
	if res.Action == "" {
		res.UserID = idOf(existing)
		changed, err := a.update(ctx, existing, p)
		if err != nil {
			return res, err
		}
		switch {
		case !changed:
			res.Action = ActionUnchanged
		case a.opts.softSync:
			res.Action = ActionModified
		default:
			res.Action = ActionReplaced
		}
	}
	if err := a.memberships(ctx, res.UserID, existing, p, &res); err != nil {
		return res, err
	}
	if res.Action == ActionUnchanged && (len(res.GroupsAdded) > 0 || len(res.GroupsRemoved) > 0) {
		res.Action = ActionModified
	}
	if len(p.unnamed) > 0 {
		res.Warning = fmt.Sprintf("an Operation removes all %s of the user without naming them (no value array): "+
			"the memberships they granted are left at the endpoint; the publisher must list the removed values",
			strings.Join(p.unnamed, " and "))
	}
	return res, nil
}

func idOf(u map[string]any) string { s, _ := u["id"].(string); return s }

func (a *applier) find(ctx context.Context, name string) (scim.User, error) {
	u, err := a.ep.FindUser(ctx, name)
	if errors.Is(err, endpoint.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (a *applier) create(ctx context.Context, p prepared) (scim.User, error) {
	u := scim.User(deepMerge(p.user, p.onCreate))
	if a.opts.GenerateUserPassword {
		if _, has := u["password"]; !has {
			u["password"] = newPassword()
		}
	}
	return a.ep.CreateUser(ctx, u)
}

// update writes the message's attributes unless the user already has them (redeliveries and repeated
// messages then cost a read, not a write). It reports whether it wrote.
func (a *applier) update(ctx context.Context, existing scim.User, p prepared) (bool, error) {
	id := idOf(existing)
	if a.opts.softSync {
		if covers(existing, p.user) {
			return false, nil
		}
		_, err := a.ep.ModifyUser(ctx, id, p.user)
		return err == nil, err
	}
	// A replace must not erase what was set on create only (onCreate: an AD sAMAccountName, a first password
	// policy): keep the existing values of those attributes unless the message sets them.
	u := p.user
	for k := range p.onCreate {
		if _, inMsg := u[k]; !inMsg {
			if v, ok := existing[k]; ok {
				u[k] = v
			}
		}
	}
	current := scim.User{}
	for k, v := range existing {
		switch k {
		case "id", "meta", "groups":
		default:
			current[k] = v
		}
	}
	if scim.Equal(current, u) {
		return false, nil
	}
	_, err := a.ep.ReplaceUser(ctx, id, u)
	return err == nil, err
}

// covers reports whether user already holds every attribute of changes (null: absent).
func covers(user, changes map[string]any) bool {
	for k, v := range changes {
		uv, present := user[k]
		switch cv := v.(type) {
		case nil:
			if present && uv != nil {
				return false
			}
		case map[string]any:
			um, ok := uv.(map[string]any)
			if !ok || !covers(um, cv) {
				return false
			}
		default:
			if !present || !scim.Equal(uv, v) {
				return false
			}
		}
	}
	return true
}

// memberOf lists the group ids an endpoint reported in the user's groups attribute.
func memberOf(u scim.User) map[string]bool {
	ids := map[string]bool{}
	arr, _ := u["groups"].([]any)
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			if v, ok := m["value"].(string); ok {
				ids[v] = true
			}
		}
	}
	return ids
}

// memberships adds the message's groups and removes the ones an Operation removed. Groups missing at the
// endpoint are created for adds and ignored for removals. A membership the existing user already shows is not
// added again.
func (a *applier) memberships(ctx context.Context, userID string, existing scim.User, p prepared, res *Result) error {
	has := memberOf(existing)
	for _, r := range p.groups {
		gid, err := a.groupID(ctx, r, true)
		if err != nil {
			return err
		}
		if has[gid] {
			continue
		}
		err = a.ep.AddMembers(ctx, gid, userID)
		if errors.Is(err, endpoint.ErrNotFound) { // the cached group was deleted: look it up once more
			a.forget(r.Value)
			if gid, err = a.groupID(ctx, r, true); err == nil {
				err = a.ep.AddMembers(ctx, gid, userID)
			}
		}
		if err != nil {
			return fmt.Errorf("group %q: add member: %w", r.Value, err)
		}
		res.GroupsAdded = append(res.GroupsAdded, r.Display)
	}
	for _, r := range p.removed {
		gid, err := a.groupID(ctx, r, false)
		if err != nil {
			return err
		}
		if gid == "" {
			continue
		}
		if err := a.ep.RemoveMembers(ctx, gid, userID); err != nil && !errors.Is(err, endpoint.ErrNotFound) {
			return fmt.Errorf("group %q: remove member: %w", r.Value, err)
		}
		res.GroupsRemoved = append(res.GroupsRemoved, r.Display)
	}
	return nil
}

// forgetGroups empties the group id cache: after a rolled-back batch it may hold ids of groups that were never
// committed.
func (a *applier) forgetGroups() {
	a.mu.Lock()
	clear(a.groupIDs)
	a.mu.Unlock()
}

func (a *applier) forget(value string) {
	a.mu.Lock()
	delete(a.groupIDs, strings.ToLower(value))
	a.mu.Unlock()
}

// groupID resolves a group reference: the value as the endpoint's group id, else a group whose displayName is
// the value (or the display). With create, a missing group is created with the value as displayName; without,
// "" means it does not exist.
func (a *applier) groupID(ctx context.Context, r groupRef, create bool) (string, error) {
	key := strings.ToLower(r.Value)
	a.mu.Lock()
	id, ok := a.groupIDs[key]
	a.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := a.lookupGroup(ctx, r)
	if err != nil {
		return "", err
	}
	if id == "" && create {
		g, err := a.ep.CreateGroup(ctx, scim.Group{"displayName": r.Value})
		switch {
		case err == nil:
			id = idOf(g)
		case errors.Is(err, endpoint.ErrConflict): // created meanwhile
			if id, err = a.lookupGroup(ctx, r); err != nil {
				return "", err
			}
			if id == "" {
				return "", fmt.Errorf("group %q: create conflicted but the group cannot be found: %w", r.Value, endpoint.ErrUnavailable)
			}
		default:
			return "", fmt.Errorf("group %q: create: %w", r.Value, err)
		}
	}
	if id != "" {
		a.mu.Lock()
		a.groupIDs[key] = id
		a.mu.Unlock()
	}
	return id, nil
}

func (a *applier) lookupGroup(ctx context.Context, r groupRef) (string, error) {
	g, err := a.ep.GetGroup(ctx, r.Value)
	if err == nil {
		return idOf(g), nil
	}
	if !errors.Is(err, endpoint.ErrNotFound) {
		return "", fmt.Errorf("group %q: %w", r.Value, err)
	}
	for _, name := range []string{r.Value, r.Display} {
		gs, err := a.ep.ListGroups(ctx, fmt.Sprintf("displayName eq %s", quote(name)))
		if err != nil {
			return "", fmt.Errorf("group %q: %w", r.Value, err)
		}
		for _, g := range gs {
			if dn, _ := g["displayName"].(string); strings.EqualFold(dn, name) {
				return idOf(g), nil
			}
		}
	}
	return "", nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
