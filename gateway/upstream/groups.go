package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

func (e *Endpoint) GetGroup(ctx context.Context, id string) (scim.Group, error) {
	var g scim.Group
	if err := e.c.do(ctx, "GET", "/Groups/"+pathEscape(id), nil, &g, fmt.Sprintf("group id %q: get", id)); err != nil {
		return nil, err
	}
	return g, nil
}

func (e *Endpoint) ListGroups(ctx context.Context, filter string) ([]scim.Group, error) {
	rs, err := e.c.list(ctx, "Groups", filter, "groups: list")
	if err != nil && filter != "" && isScimType(err, "invalidFilter") {
		rs, err = e.c.list(ctx, "Groups", "", "groups: list")
	}
	if err != nil {
		return nil, err
	}
	out := make([]scim.Group, len(rs))
	for i, r := range rs {
		out[i] = scim.Group(r)
	}
	return out, nil
}

func (e *Endpoint) CreateGroup(ctx context.Context, g scim.Group) (scim.Group, error) {
	name, err := displayName(g)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("group %q: create", name)
	var out scim.Group
	if err := e.c.do(ctx, "POST", "/Groups", withSchema(g, schemaGroup), &out, what); err != nil {
		return nil, err
	}
	if idOf(out) == "" {
		return nil, fmt.Errorf("scim upstream: %s: the answer has no id: %w", what, endpoint.ErrUnavailable)
	}
	return out, nil
}

// ReplaceGroup PUTs the group. Without a members attribute in g the current members are kept (PUT would
// otherwise empty the group): they are read first and sent along.
func (e *Endpoint) ReplaceGroup(ctx context.Context, id string, g scim.Group) (scim.Group, error) {
	if _, err := displayName(g); err != nil {
		return nil, err
	}
	body := withSchema(g, schemaGroup)
	body["id"] = id
	if _, ok := g["members"]; !ok {
		cur, err := e.GetGroup(ctx, id)
		if err != nil {
			return nil, err
		}
		if m, ok := cur["members"]; ok {
			body["members"] = memberRefs(m)
		}
	}
	var out scim.Group
	if err := e.c.do(ctx, "PUT", "/Groups/"+pathEscape(id), body, &out, fmt.Sprintf("group id %q: replace", id)); err != nil {
		return nil, err
	}
	if idOf(out) == "" {
		return e.GetGroup(ctx, id)
	}
	return out, nil
}

func (e *Endpoint) DeleteGroup(ctx context.Context, id string) error {
	return e.c.do(ctx, "DELETE", "/Groups/"+pathEscape(id), nil, nil, fmt.Sprintf("group id %q: delete", id))
}

// AddMembers PATCHes the group with one add of all members (RFC 7644 §3.5.2.1); adding a present member is a
// no-op at a conforming service provider. With no ids the group's existence is still checked.
func (e *Endpoint) AddMembers(ctx context.Context, groupID string, userIDs ...string) error {
	what := fmt.Sprintf("group id %q: add members", groupID)
	if len(userIDs) == 0 {
		_, err := e.GetGroup(ctx, groupID)
		return err
	}
	refs := make([]any, len(userIDs))
	for i, id := range userIDs {
		refs[i] = map[string]any{"value": id}
	}
	p := newPatch([]patchOp{{Op: "add", Path: "members", Value: refs}})
	return e.c.do(ctx, "PATCH", "/Groups/"+pathEscape(groupID), p, nil, what)
}

// RemoveMembers PATCHes the group with a remove per member (members[value eq "…"]). A 400 noTarget (the member
// is not there) is success: removal is idempotent.
func (e *Endpoint) RemoveMembers(ctx context.Context, groupID string, userIDs ...string) error {
	what := fmt.Sprintf("group id %q: remove members", groupID)
	if len(userIDs) == 0 {
		_, err := e.GetGroup(ctx, groupID)
		return err
	}
	ops := make([]patchOp, len(userIDs))
	for i, id := range userIDs {
		ops[i] = patchOp{Op: "remove", Path: "members[value eq " + quote(id) + "]"}
	}
	err := e.c.do(ctx, "PATCH", "/Groups/"+pathEscape(groupID), newPatch(ops), nil, what)
	if err != nil && isNoTarget(err) && len(userIDs) > 1 {
		// One absent member fails the whole request: remove them one by one.
		for _, id := range userIDs {
			if err := e.RemoveMembers(ctx, groupID, id); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil && isNoTarget(err) {
		return nil
	}
	return err
}

func memberRefs(m any) []any {
	arr, _ := m.([]any)
	out := make([]any, 0, len(arr))
	for _, e := range arr {
		if mm, ok := e.(map[string]any); ok && mm["value"] != nil {
			out = append(out, map[string]any{"value": mm["value"]})
		}
	}
	return out
}

func displayName(g scim.Group) (string, error) {
	n, ok := g["displayName"].(string)
	if !ok || strings.TrimSpace(n) == "" {
		return "", fmt.Errorf("scim upstream: group: displayName is mandatory and must be a non-empty string: %w", endpoint.ErrInvalid)
	}
	return n, nil
}

func isScimType(err error, t string) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.ScimType == t
}
