package ldap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

// userFilter combines the configured users filter with f.
func (e *Endpoint) userFilter(f string) string { return "(&" + e.cfg.Users.Filter + f + ")" }

func (e *Endpoint) userByID(ctx context.Context, id string) (*ldap.Entry, error) {
	f, err := idFilter(e.cfg.Users.IDAttribute, id)
	if err != nil {
		return nil, err
	}
	es, err := e.search(ctx, e.cfg.Users.BaseDN, ldap.ScopeWholeSubtree, e.userFilter(f), e.userAttrs, false)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("user id %q: %w", id, endpoint.ErrNotFound)
	}
	return es[0], nil
}

func (e *Endpoint) userByName(ctx context.Context, name string) (*ldap.Entry, error) {
	f := "(" + e.userNameAttr + "=" + ldap.EscapeFilter(name) + ")"
	es, err := e.search(ctx, e.cfg.Users.BaseDN, ldap.ScopeWholeSubtree, e.userFilter(f), e.userAttrs, false)
	if err != nil {
		return nil, err
	}
	for _, en := range es {
		if strings.EqualFold(en.GetEqualFoldAttributeValue(e.userNameAttr), name) {
			return en, nil
		}
	}
	return nil, fmt.Errorf("user %q: %w", name, endpoint.ErrNotFound)
}

// toUser is the SCIM user of an entry; groups come from gs (DN key → groups) when given, else by a search.
func (e *Endpoint) toUser(ctx context.Context, en *ldap.Entry, gs map[string][]any) (scim.User, error) {
	u := e.users.fromLDAP(en)
	u["id"] = idValue(en, e.cfg.Users.IDAttribute)
	u["meta"] = map[string]any{"resourceType": "User"}
	var groups []any
	if gs != nil {
		groups = gs[normDN(en.DN)]
	} else {
		var err error
		if groups, err = e.groupsOf(ctx, en.DN); err != nil {
			return nil, err
		}
	}
	if len(groups) > 0 {
		u["groups"] = groups
	}
	return u, nil
}

func (e *Endpoint) FindUser(ctx context.Context, userName string) (scim.User, error) {
	en, err := e.userByName(ctx, userName)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("user %q: find", userName), err)
	}
	u, err := e.toUser(ctx, en, nil)
	return u, mapErr(fmt.Sprintf("user %q: find", userName), err)
}

func (e *Endpoint) GetUser(ctx context.Context, id string) (scim.User, error) {
	en, err := e.userByID(ctx, id)
	if err != nil {
		return nil, mapErr(fmt.Sprintf("user id %q: get", id), err)
	}
	u, err := e.toUser(ctx, en, nil)
	return u, mapErr(fmt.Sprintf("user id %q: get", id), err)
}

// ListUsers narrows `userName eq "…"` to one lookup and otherwise reads every user with a paged search (the
// caller filters again).
func (e *Endpoint) ListUsers(ctx context.Context, filter string) ([]scim.User, error) {
	if name, ok := eqFilter(filter, "userName"); ok {
		u, err := e.FindUser(ctx, name)
		if errors.Is(err, endpoint.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []scim.User{u}, nil
	}
	es, err := e.search(ctx, e.cfg.Users.BaseDN, ldap.ScopeWholeSubtree, e.cfg.Users.Filter, e.userAttrs, true)
	if err != nil {
		return nil, mapErr("users: list", err)
	}
	gs, err := e.memberships(ctx)
	if err != nil {
		return nil, mapErr("users: list", err)
	}
	out := make([]scim.User, 0, len(es))
	for _, en := range es {
		u, err := e.toUser(ctx, en, gs)
		if err != nil {
			return nil, mapErr("users: list", err)
		}
		out = append(out, u)
	}
	return out, nil
}

func (e *Endpoint) CreateUser(ctx context.Context, in scim.User) (scim.User, error) {
	u, name, err := checkUser(in)
	if err != nil {
		return nil, mapErr("create user", err)
	}
	what := fmt.Sprintf("user %q: create", name)
	// The RDN makes the directory refuse a second entry of the same name atomically; this lookup covers
	// userName attributes that are not the RDN (AD's userPrincipalName).
	if _, err := e.userByName(ctx, name); err == nil {
		return nil, mapErr(what, fmt.Errorf("userName is taken: %w", endpoint.ErrConflict))
	} else if !errors.Is(err, endpoint.ErrNotFound) {
		return nil, mapErr(what, err)
	}
	attrs, err := e.users.toLDAP(u, nil)
	if err != nil {
		return nil, mapErr(what, err)
	}
	dn, err := dnOf(e.userRDN, u, e.cfg.Users.BaseDN)
	if err != nil {
		return nil, mapErr(what, err)
	}
	withRDNValues(dn, attrs)
	pw := e.takePassword(attrs)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", e.cfg.Users.ObjectClasses)
	for _, a := range sortedAttrs(attrs) {
		if len(attrs[a]) > 0 {
			req.Attribute(a, attrs[a])
		}
	}
	if err := e.run(ctx, func(c *ldap.Conn) error { return c.Add(req) }); err != nil {
		return nil, mapErr(what+" "+dn, err)
	}
	if err := e.setPassword(ctx, dn, pw, attrs); err != nil {
		return nil, mapErr(what+" "+dn, err)
	}
	en, err := e.byDN(ctx, dn, e.cfg.Users.Filter, e.userAttrs)
	if err != nil {
		return nil, mapErr(what, err)
	}
	out, err := e.toUser(ctx, en, map[string][]any{})
	return out, mapErr(what, err)
}

// ReplaceUser writes every mapped attribute from u; unmapped LDAP attributes and group memberships stay.
func (e *Endpoint) ReplaceUser(ctx context.Context, id string, in scim.User) (scim.User, error) {
	what := fmt.Sprintf("user id %q: replace", id)
	u, _, err := checkUser(in)
	if err != nil {
		return nil, mapErr(what, err)
	}
	cur, err := e.userByID(ctx, id)
	if err != nil {
		return nil, mapErr(what, err)
	}
	return e.writeUser(ctx, what, id, cur, u)
}

// ModifyUser merges changes into the current user (a null removes an attribute) and writes the result.
func (e *Endpoint) ModifyUser(ctx context.Context, id string, changes scim.User) (scim.User, error) {
	what := fmt.Sprintf("user id %q: modify", id)
	c, err := scim.Normalize(map[string]any(changes))
	if err != nil {
		return nil, mapErr(what, fmt.Errorf("%v: %w", err, endpoint.ErrInvalid))
	}
	cur, err := e.userByID(ctx, id)
	if err != nil {
		return nil, mapErr(what, err)
	}
	merged := merge(e.users.fromLDAP(cur), c.(map[string]any))
	u, _, err := checkUser(merged)
	if err != nil {
		return nil, mapErr(what, err)
	}
	return e.writeUser(ctx, what, id, cur, u)
}

// writeUser renames or moves the entry when its DN template gives a new DN, then changes the attributes that
// differ. A password is written only when given; active absent leaves userAccountControl as it is.
func (e *Endpoint) writeUser(ctx context.Context, what, id string, cur *ldap.Entry, u scim.User) (scim.User, error) {
	name, _ := u["userName"].(string)
	if old := cur.GetEqualFoldAttributeValue(e.userNameAttr); !strings.EqualFold(old, name) {
		if other, err := e.userByName(ctx, name); err == nil && idValue(other, e.cfg.Users.IDAttribute) != id {
			return nil, mapErr(what, fmt.Errorf("userName %q is taken: %w", name, endpoint.ErrConflict))
		} else if err != nil && !errors.Is(err, endpoint.ErrNotFound) {
			return nil, mapErr(what, err)
		}
	}
	dn, err := dnOf(e.userRDN, u, e.cfg.Users.BaseDN)
	if err != nil {
		return nil, mapErr(what, err)
	}
	if normDN(dn) != normDN(cur.DN) {
		if err := e.run(ctx, func(c *ldap.Conn) error { return e.move(c, cur.DN, dn) }); err != nil {
			return nil, mapErr(fmt.Sprintf("%s: rename %s to %s", what, cur.DN, dn), err)
		}
		if *e.cfg.Groups.RenameMembers {
			if err := e.renameMember(ctx, cur.DN, dn); err != nil {
				return nil, mapErr(what, err)
			}
		}
	} else {
		dn = cur.DN
	}
	attrs, err := e.users.toLDAP(u, cur)
	if err != nil {
		return nil, mapErr(what, err)
	}
	withRDNValues(dn, attrs)
	pw := e.takePassword(attrs)
	keep := map[string]bool{strings.ToLower(e.users.attr(scimPassword)): true}
	if strings.EqualFold(e.users.attr(scimActive), uacAttr) {
		keep[uacAttr] = true
	}
	mod := ldap.NewModifyRequest(dn, nil)
	for _, a := range sortedAttrs(attrs) {
		want, have := attrs[a], cur.GetEqualFoldAttributeValues(a)
		switch {
		case keep[strings.ToLower(a)] && len(want) == 0:
		case strings.EqualFold(a, e.users.attr(scimPassword)):
			mod.Replace(a, want)
		case sameValues(want, have):
		case len(want) == 0:
			mod.Delete(a, nil)
		default:
			mod.Replace(a, want)
		}
	}
	if len(mod.Changes) > 0 {
		if err := e.run(ctx, func(c *ldap.Conn) error { return c.Modify(mod) }); err != nil {
			return nil, mapErr(what+" "+dn, err)
		}
	}
	if err := e.setPassword(ctx, dn, pw, attrs); err != nil {
		return nil, mapErr(what+" "+dn, err)
	}
	en, err := e.byDN(ctx, dn, e.cfg.Users.Filter, e.userAttrs)
	if err != nil {
		return nil, mapErr(what, err)
	}
	out, err := e.toUser(ctx, en, nil)
	return out, mapErr(what, err)
}

// DeleteUser removes the user from its groups (the directory keeps dangling member DNs otherwise) and deletes
// the entry.
func (e *Endpoint) DeleteUser(ctx context.Context, id string) error {
	what := fmt.Sprintf("user id %q: delete", id)
	cur, err := e.userByID(ctx, id)
	if err != nil {
		return mapErr(what, err)
	}
	if err := e.renameMember(ctx, cur.DN, ""); err != nil {
		return mapErr(what, err)
	}
	err = e.run(ctx, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(cur.DN, nil)) })
	return mapErr(what+" "+cur.DN, err)
}

// takePassword removes the password from attrs when it is set with the Password Modify operation instead.
func (e *Endpoint) takePassword(attrs map[string][]string) string {
	if e.cfg.Users.PasswordModify == nil || !*e.cfg.Users.PasswordModify {
		return ""
	}
	a := e.users.attr(scimPassword)
	if a == "" {
		return ""
	}
	pw := ""
	for k, v := range attrs {
		if strings.EqualFold(k, a) {
			if len(v) > 0 {
				pw = v[0]
			}
			delete(attrs, k)
		}
	}
	return pw
}

// setPassword sets the password of dn with the Password Modify extended operation (RFC 3062); the server
// hashes it by its policy. The ppolicy overlay unlocks an account whose password an administrator sets, so an
// inactive user's lock (pwdAccountLockedTime in attrs) is written again afterwards.
func (e *Endpoint) setPassword(ctx context.Context, dn, pw string, attrs map[string][]string) error {
	if pw == "" {
		return nil
	}
	return e.run(ctx, func(c *ldap.Conn) error {
		if _, err := c.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", pw)); err != nil {
			return err
		}
		for a, v := range attrs {
			if strings.EqualFold(a, lockAttr) && len(v) > 0 {
				mod := ldap.NewModifyRequest(dn, nil)
				mod.Replace(a, v)
				return c.Modify(mod)
			}
		}
		return nil
	})
}

// checkUser normalizes a user and checks its userName.
func checkUser(in scim.User) (scim.User, string, error) {
	v, err := scim.Normalize(map[string]any(in))
	if err != nil {
		return nil, "", fmt.Errorf("%v: %w", err, endpoint.ErrInvalid)
	}
	u := scim.User(v.(map[string]any))
	n, ok := u["userName"].(string)
	if !ok || strings.TrimSpace(n) == "" {
		return nil, "", fmt.Errorf("userName is mandatory and must be a non-empty string: %w", endpoint.ErrInvalid)
	}
	return u, n, nil
}

// merge applies soft-sync changes: nulls remove, objects merge key by key, anything else replaces.
func merge(old, changes map[string]any) map[string]any {
	out := make(map[string]any, len(old)+len(changes))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range changes {
		ok := k
		for ek := range out {
			if strings.EqualFold(ek, k) {
				ok = ek
			}
		}
		if v == nil {
			delete(out, ok)
			continue
		}
		if cm, isMap := v.(map[string]any); isMap {
			om, _ := out[ok].(map[string]any)
			delete(out, ok)
			out[k] = merge(om, cm)
			continue
		}
		delete(out, ok)
		out[k] = v
	}
	return out
}

func sortedAttrs(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sameValues compares value sets exactly (a case change is a change worth writing).
func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
