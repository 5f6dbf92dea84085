package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

func (e *Endpoint) groupFilter(f string) string { return "(&" + e.cfg.Groups.Filter + f + ")" }

func (e *Endpoint) memberAttr() string { return e.cfg.Groups.MemberAttribute }

func (e *Endpoint) groupByID(ctx context.Context, id string) (*ldap.Entry, error) {
	f, err := idFilter(e.cfg.Groups.IDAttribute, id)
	if err != nil {
		return nil, err
	}
	es, err := e.search(ctx, e.cfg.Groups.BaseDN, ldap.ScopeWholeSubtree, e.groupFilter(f), e.groupAttrs, false)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("group id %q: %w", id, endpoint.ErrNotFound)
	}
	return es[0], nil
}

func (e *Endpoint) groupByName(ctx context.Context, name string) (*ldap.Entry, error) {
	f := "(" + e.groupName + "=" + ldap.EscapeFilter(name) + ")"
	es, err := e.search(ctx, e.cfg.Groups.BaseDN, ldap.ScopeWholeSubtree, e.groupFilter(f), e.groupAttrs, false)
	if err != nil {
		return nil, err
	}
	for _, en := range es {
		if strings.EqualFold(en.GetEqualFoldAttributeValue(e.groupName), name) {
			return en, nil
		}
	}
	return nil, fmt.Errorf("group %q: %w", name, endpoint.ErrNotFound)
}

// groupsOf returns the groups whose member attribute holds dn, as SCIM user groups.
func (e *Endpoint) groupsOf(ctx context.Context, dn string) ([]any, error) {
	f := e.groupFilter("(" + e.memberAttr() + "=" + ldap.EscapeFilter(dn) + ")")
	es, err := e.search(ctx, e.cfg.Groups.BaseDN, ldap.ScopeWholeSubtree, f, []string{e.cfg.Groups.IDAttribute, e.groupName}, false)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, g := range es {
		out = append(out, groupRef(g, e.cfg.Groups.IDAttribute, e.groupName))
	}
	return out, nil
}

func groupRef(g *ldap.Entry, idAttr, nameAttr string) map[string]any {
	return map[string]any{"value": idValue(g, idAttr), "display": g.GetEqualFoldAttributeValue(nameAttr), "type": "direct"}
}

// memberships reads every group once and indexes them by member DN (for listing users).
func (e *Endpoint) memberships(ctx context.Context) (map[string][]any, error) {
	es, err := e.search(ctx, e.cfg.Groups.BaseDN, ldap.ScopeWholeSubtree, e.cfg.Groups.Filter,
		[]string{e.cfg.Groups.IDAttribute, e.groupName, e.memberAttr()}, true)
	if err != nil {
		return nil, err
	}
	idx := map[string][]any{}
	for _, g := range es {
		ref := groupRef(g, e.cfg.Groups.IDAttribute, e.groupName)
		for _, m := range g.GetEqualFoldAttributeValues(e.memberAttr()) {
			idx[normDN(m)] = append(idx[normDN(m)], ref)
		}
	}
	return idx, nil
}

// renameMember replaces from by to (or removes it when to is "") in every group that has it as a member.
func (e *Endpoint) renameMember(ctx context.Context, from, to string) error {
	f := e.groupFilter("(" + e.memberAttr() + "=" + ldap.EscapeFilter(from) + ")")
	es, err := e.search(ctx, e.cfg.Groups.BaseDN, ldap.ScopeWholeSubtree, f, []string{e.memberAttr()}, true)
	if err != nil {
		return err
	}
	for _, g := range es {
		var old []string
		for _, m := range g.GetEqualFoldAttributeValues(e.memberAttr()) {
			if normDN(m) == normDN(from) {
				old = append(old, m)
			}
		}
		mod := ldap.NewModifyRequest(g.DN, nil)
		if to != "" {
			mod.Add(e.memberAttr(), []string{to})
		}
		e.keepEmptyMember(mod, g, len(old))
		mod.Delete(e.memberAttr(), old)
		err := e.run(ctx, func(c *ldap.Conn) error { return c.Modify(mod) })
		if err != nil && !ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultAttributeOrValueExists) {
			return fmt.Errorf("group %s: member %s: %w", g.DN, from, err)
		}
	}
	return nil
}

// keepEmptyMember adds the placeholder member to mod when removing n members would leave a group whose class
// requires a member (groupOfNames) without one.
func (e *Endpoint) keepEmptyMember(mod *ldap.ModifyRequest, g *ldap.Entry, n int) {
	if e.cfg.Groups.EmptyMember == nil {
		return
	}
	ms := g.GetEqualFoldAttributeValues(e.memberAttr())
	if len(ms)-n > 0 {
		return
	}
	mod.Add(e.memberAttr(), []string{*e.cfg.Groups.EmptyMember})
}

// toGroup is the SCIM group of an entry: member DNs that are users become members (with their ids); other
// DNs (the placeholder, nested groups, deleted entries) are left out.
func (e *Endpoint) toGroup(ctx context.Context, en *ldap.Entry) (scim.Group, error) {
	g := scim.Group(e.groups.fromLDAP(en))
	g["id"] = idValue(en, e.cfg.Groups.IDAttribute)
	g["meta"] = map[string]any{"resourceType": "Group"}
	var members []any
	for _, m := range en.GetEqualFoldAttributeValues(e.memberAttr()) {
		if e.isPlaceholder(m) {
			continue
		}
		u, err := e.byDN(ctx, m, e.cfg.Users.Filter, []string{e.cfg.Users.IDAttribute, e.userNameAttr})
		if errors.Is(err, endpoint.ErrNotFound) || ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax) {
			continue
		}
		if err != nil {
			return nil, err
		}
		members = append(members, map[string]any{"value": idValue(u, e.cfg.Users.IDAttribute),
			"display": u.GetEqualFoldAttributeValue(e.userNameAttr), "type": "User"})
	}
	if len(members) > 0 {
		g["members"] = members
	}
	return g, nil
}

func (e *Endpoint) isPlaceholder(dn string) bool {
	return e.cfg.Groups.EmptyMember != nil && normDN(dn) == normDN(*e.cfg.Groups.EmptyMember)
}

func (e *Endpoint) GetGroup(ctx context.Context, id string) (scim.Group, error) {
	what := fmt.Sprintf("group id %q: get", id)
	en, err := e.groupByID(ctx, id)
	if err != nil {
		return nil, mapErr(what, err)
	}
	g, err := e.toGroup(ctx, en)
	return g, mapErr(what, err)
}

func (e *Endpoint) ListGroups(ctx context.Context, filter string) ([]scim.Group, error) {
	var es []*ldap.Entry
	var err error
	if name, ok := eqFilter(filter, "displayName"); ok {
		var en *ldap.Entry
		en, err = e.groupByName(ctx, name)
		if errors.Is(err, endpoint.ErrNotFound) {
			return nil, nil
		}
		es = []*ldap.Entry{en}
	} else {
		es, err = e.search(ctx, e.cfg.Groups.BaseDN, ldap.ScopeWholeSubtree, e.cfg.Groups.Filter, e.groupAttrs, true)
	}
	if err != nil {
		return nil, mapErr("groups: list", err)
	}
	out := make([]scim.Group, 0, len(es))
	for _, en := range es {
		g, err := e.toGroup(ctx, en)
		if err != nil {
			return nil, mapErr("groups: list", err)
		}
		out = append(out, g)
	}
	return out, nil
}

func (e *Endpoint) CreateGroup(ctx context.Context, in scim.Group) (scim.Group, error) {
	g, name, err := checkGroup(in)
	if err != nil {
		return nil, mapErr("create group", err)
	}
	what := fmt.Sprintf("group %q: create", name)
	if _, err := e.groupByName(ctx, name); err == nil {
		return nil, mapErr(what, fmt.Errorf("displayName is taken: %w", endpoint.ErrConflict))
	} else if !errors.Is(err, endpoint.ErrNotFound) {
		return nil, mapErr(what, err)
	}
	attrs, err := e.groups.toLDAP(scim.User(g), nil)
	if err != nil {
		return nil, mapErr(what, err)
	}
	dn, err := dnOf(e.groupRDN, g, e.cfg.Groups.BaseDN)
	if err != nil {
		return nil, mapErr(what, err)
	}
	withRDNValues(dn, attrs)
	members, err := e.memberDNs(ctx, g["members"])
	if err != nil {
		return nil, mapErr(what, err)
	}
	if len(members) == 0 && e.cfg.Groups.EmptyMember != nil {
		members = []string{*e.cfg.Groups.EmptyMember}
	}
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", e.cfg.Groups.ObjectClasses)
	for _, a := range sortedAttrs(attrs) {
		if len(attrs[a]) > 0 {
			req.Attribute(a, attrs[a])
		}
	}
	if len(members) > 0 {
		req.Attribute(e.memberAttr(), members)
	}
	if err := e.run(ctx, func(c *ldap.Conn) error { return c.Add(req) }); err != nil {
		return nil, mapErr(what+" "+dn, err)
	}
	en, err := e.byDN(ctx, dn, e.cfg.Groups.Filter, e.groupAttrs)
	if err != nil {
		return nil, mapErr(what, err)
	}
	out, err := e.toGroup(ctx, en)
	return out, mapErr(what, err)
}

// ReplaceGroup writes the mapped attributes (renaming the entry when its DN changes); members are replaced only
// when g has a members attribute.
func (e *Endpoint) ReplaceGroup(ctx context.Context, id string, in scim.Group) (scim.Group, error) {
	what := fmt.Sprintf("group id %q: replace", id)
	g, name, err := checkGroup(in)
	if err != nil {
		return nil, mapErr(what, err)
	}
	cur, err := e.groupByID(ctx, id)
	if err != nil {
		return nil, mapErr(what, err)
	}
	if !strings.EqualFold(cur.GetEqualFoldAttributeValue(e.groupName), name) {
		if other, err := e.groupByName(ctx, name); err == nil && idValue(other, e.cfg.Groups.IDAttribute) != id {
			return nil, mapErr(what, fmt.Errorf("displayName %q is taken: %w", name, endpoint.ErrConflict))
		}
	}
	dn, err := dnOf(e.groupRDN, g, e.cfg.Groups.BaseDN)
	if err != nil {
		return nil, mapErr(what, err)
	}
	if normDN(dn) != normDN(cur.DN) {
		if err := e.run(ctx, func(c *ldap.Conn) error { return e.move(c, cur.DN, dn) }); err != nil {
			return nil, mapErr(fmt.Sprintf("%s: rename %s to %s", what, cur.DN, dn), err)
		}
	} else {
		dn = cur.DN
	}
	attrs, err := e.groups.toLDAP(scim.User(g), cur)
	if err != nil {
		return nil, mapErr(what, err)
	}
	withRDNValues(dn, attrs)
	mod := ldap.NewModifyRequest(dn, nil)
	for _, a := range sortedAttrs(attrs) {
		want, have := attrs[a], cur.GetEqualFoldAttributeValues(a)
		switch {
		case sameValues(want, have):
		case len(want) == 0:
			mod.Delete(a, nil)
		default:
			mod.Replace(a, want)
		}
	}
	if m, ok := g["members"]; ok {
		members, err := e.memberDNs(ctx, m)
		if err != nil {
			return nil, mapErr(what, err)
		}
		if len(members) == 0 && e.cfg.Groups.EmptyMember != nil {
			members = []string{*e.cfg.Groups.EmptyMember}
		}
		mod.Replace(e.memberAttr(), members)
	}
	if len(mod.Changes) > 0 {
		if err := e.run(ctx, func(c *ldap.Conn) error { return c.Modify(mod) }); err != nil {
			return nil, mapErr(what+" "+dn, err)
		}
	}
	en, err := e.byDN(ctx, dn, e.cfg.Groups.Filter, e.groupAttrs)
	if err != nil {
		return nil, mapErr(what, err)
	}
	out, err := e.toGroup(ctx, en)
	return out, mapErr(what, err)
}

func (e *Endpoint) DeleteGroup(ctx context.Context, id string) error {
	what := fmt.Sprintf("group id %q: delete", id)
	cur, err := e.groupByID(ctx, id)
	if err != nil {
		return mapErr(what, err)
	}
	err = e.run(ctx, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(cur.DN, nil)) })
	return mapErr(what+" "+cur.DN, err)
}

// AddMembers adds the users' DNs that the group does not hold yet.
func (e *Endpoint) AddMembers(ctx context.Context, groupID string, userIDs ...string) error {
	what := fmt.Sprintf("group id %q: add members", groupID)
	cur, err := e.groupByID(ctx, groupID)
	if err != nil {
		return mapErr(what, err)
	}
	have := map[string]bool{}
	for _, m := range cur.GetEqualFoldAttributeValues(e.memberAttr()) {
		have[normDN(m)] = true
	}
	var add []string
	for _, id := range userIDs {
		u, err := e.userByID(ctx, id)
		if err != nil {
			return mapErr(fmt.Sprintf("%s: member", what), err)
		}
		if !have[normDN(u.DN)] {
			have[normDN(u.DN)] = true
			add = append(add, u.DN)
		}
	}
	if len(add) == 0 {
		return nil
	}
	err = e.run(ctx, func(c *ldap.Conn) error {
		mod := ldap.NewModifyRequest(cur.DN, nil)
		mod.Add(e.memberAttr(), add)
		err := c.Modify(mod)
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
			return err
		}
		// A concurrent add got there first for one of them: add one by one, each idempotently.
		for _, dn := range add {
			mod := ldap.NewModifyRequest(cur.DN, nil)
			mod.Add(e.memberAttr(), []string{dn})
			if err := c.Modify(mod); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
				return err
			}
		}
		return nil
	})
	return mapErr(what, err)
}

// RemoveMembers removes the users' DNs the group holds; unknown users and non-members are skipped.
func (e *Endpoint) RemoveMembers(ctx context.Context, groupID string, userIDs ...string) error {
	what := fmt.Sprintf("group id %q: remove members", groupID)
	cur, err := e.groupByID(ctx, groupID)
	if err != nil {
		return mapErr(what, err)
	}
	have := map[string]string{}
	for _, m := range cur.GetEqualFoldAttributeValues(e.memberAttr()) {
		have[normDN(m)] = m
	}
	var del []string
	for _, id := range userIDs {
		u, err := e.userByID(ctx, id)
		if errors.Is(err, endpoint.ErrNotFound) {
			continue
		}
		if err != nil {
			return mapErr(what, err)
		}
		if m, ok := have[normDN(u.DN)]; ok {
			del = append(del, m)
			delete(have, normDN(u.DN))
		}
	}
	if len(del) == 0 {
		return nil
	}
	mod := ldap.NewModifyRequest(cur.DN, nil)
	e.keepEmptyMember(mod, cur, len(del))
	mod.Delete(e.memberAttr(), del)
	err = e.run(ctx, func(c *ldap.Conn) error { return c.Modify(mod) })
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		return nil // removed concurrently
	}
	return mapErr(what, err)
}

// memberDNs resolves SCIM members ([{value: id}]) to user DNs.
func (e *Endpoint) memberDNs(ctx context.Context, v any) ([]string, error) {
	arr, _ := v.([]any)
	var out []string
	for _, m := range arr {
		mm, _ := m.(map[string]any)
		id, _ := mm["value"].(string)
		if id == "" {
			continue
		}
		u, err := e.userByID(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("member: %w", err)
		}
		out = append(out, u.DN)
	}
	return out, nil
}

func checkGroup(in scim.Group) (scim.Group, string, error) {
	v, err := scim.Normalize(map[string]any(in))
	if err != nil {
		return nil, "", fmt.Errorf("%v: %w", err, endpoint.ErrInvalid)
	}
	g := scim.Group(v.(map[string]any))
	n, ok := g["displayName"].(string)
	if !ok || strings.TrimSpace(n) == "" {
		return nil, "", fmt.Errorf("displayName is mandatory and must be a non-empty string: %w", endpoint.ErrInvalid)
	}
	return g, n, nil
}

// eqAttrRe recognises `attr eq "value"`, the one filter narrowed to a directory lookup.
var eqAttrRe = regexp.MustCompile(`^\s*([A-Za-z][\w.]*)\s+eq\s+("(?:[^"\\]|\\.)*")\s*$`)

func eqFilter(filter, attr string) (string, bool) {
	m := eqAttrRe.FindStringSubmatch(filter)
	if m == nil || !strings.EqualFold(m[1], attr) {
		return "", false
	}
	var v string
	if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
		return "", false
	}
	return v, true
}
