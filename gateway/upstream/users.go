package upstream

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

// FindUser looks the user up with the filter userName eq "…" (the SCIM way to find by userName); userName is
// compared case-insensitively again because some service providers filter case-exactly.
func (e *Endpoint) FindUser(ctx context.Context, userName string) (scim.User, error) {
	what := fmt.Sprintf("user %q: find", userName)
	rs, err := e.c.list(ctx, "Users", "userName eq "+quote(userName), what)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if n, _ := r["userName"].(string); strings.EqualFold(n, userName) {
			return scim.User(r), nil
		}
	}
	return nil, fmt.Errorf("scim upstream: user %q: %w", userName, endpoint.ErrNotFound)
}

func (e *Endpoint) GetUser(ctx context.Context, id string) (scim.User, error) {
	var u scim.User
	if err := e.c.do(ctx, "GET", "/Users/"+pathEscape(id), nil, &u, fmt.Sprintf("user id %q: get", id)); err != nil {
		return nil, err
	}
	return u, nil
}

// ListUsers passes the filter on; a service provider that rejects it (400 invalidFilter) is asked for all users,
// which the Endpoint contract allows.
func (e *Endpoint) ListUsers(ctx context.Context, filter string) ([]scim.User, error) {
	rs, err := e.c.list(ctx, "Users", filter, "users: list")
	if err != nil && filter != "" && isScimType(err, "invalidFilter") {
		rs, err = e.c.list(ctx, "Users", "", "users: list")
	}
	if err != nil {
		return nil, err
	}
	out := make([]scim.User, len(rs))
	for i, r := range rs {
		out[i] = scim.User(r)
	}
	return out, nil
}

func (e *Endpoint) CreateUser(ctx context.Context, u scim.User) (scim.User, error) {
	name, err := userName(u)
	if err != nil {
		return nil, err
	}
	var out scim.User
	what := fmt.Sprintf("user %q: create", name)
	if err := e.c.do(ctx, "POST", "/Users", withSchema(u, schemaUser, "groups"), &out, what); err != nil {
		return nil, err
	}
	if idOf(out) == "" {
		return nil, fmt.Errorf("scim upstream: %s: the answer has no id: %w", what, endpoint.ErrUnavailable)
	}
	return out, nil
}

// ReplaceUser PUTs the user; groups are not sent (memberships are the groups' business, RFC 7643 §4.1.2).
func (e *Endpoint) ReplaceUser(ctx context.Context, id string, u scim.User) (scim.User, error) {
	if _, err := userName(u); err != nil {
		return nil, err
	}
	body := withSchema(u, schemaUser, "groups")
	body["id"] = id
	var out scim.User
	if err := e.c.do(ctx, "PUT", "/Users/"+pathEscape(id), body, &out, fmt.Sprintf("user id %q: replace", id)); err != nil {
		return nil, err
	}
	if idOf(out) == "" {
		return e.GetUser(ctx, id)
	}
	return out, nil
}

// ModifyUser PATCHes only the attributes in changes: a value is a replace, a JSON null a remove. A complex
// attribute (name, an extension) becomes one operation per sub-attribute, so that sub-attributes not in changes
// stay as they are on every service provider, whatever it does with a replace of a whole complex value.
func (e *Endpoint) ModifyUser(ctx context.Context, id string, changes scim.User) (scim.User, error) {
	ops := patchOps(changes)
	what := fmt.Sprintf("user id %q: modify", id)
	if len(ops) == 0 {
		return e.GetUser(ctx, id)
	}
	var out scim.User
	if err := e.c.do(ctx, "PATCH", "/Users/"+pathEscape(id), newPatch(ops), &out, what); err != nil {
		return nil, err
	}
	if idOf(out) == "" { // 204 No Content is allowed
		return e.GetUser(ctx, id)
	}
	return out, nil
}

func (e *Endpoint) DeleteUser(ctx context.Context, id string) error {
	return e.c.do(ctx, "DELETE", "/Users/"+pathEscape(id), nil, nil, fmt.Sprintf("user id %q: delete", id))
}

// patchOps turns a soft-sync change set into PATCH operations, sorted by path for stable requests.
func patchOps(changes scim.User) []patchOp {
	var ops []patchOp
	for k, v := range changes {
		switch k {
		case "id", "meta", "groups", "schemas":
			continue
		}
		sub, isMap := v.(map[string]any)
		if !isMap {
			ops = append(ops, op(k, v))
			continue
		}
		sep := "."
		if strings.HasPrefix(k, "urn:") {
			sep = ":" // extension attributes: urn:…:User:employeeNumber
		}
		for sk, sv := range sub {
			ops = append(ops, op(k+sep+sk, sv))
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Path < ops[j].Path })
	return ops
}

func op(path string, v any) patchOp {
	if v == nil {
		return patchOp{Op: "remove", Path: path}
	}
	return patchOp{Op: "replace", Path: path, Value: v}
}

func userName(u scim.User) (string, error) {
	n, ok := u["userName"].(string)
	if !ok || strings.TrimSpace(n) == "" {
		return "", fmt.Errorf("scim upstream: user: userName is mandatory and must be a non-empty string: %w", endpoint.ErrInvalid)
	}
	return n, nil
}
