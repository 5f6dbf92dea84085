// Package endpoint is the plug-in point of the bundled gateway: the Endpoint interface a provisioned system
// implements, the errors it reports, and how an endpoint type is opened from its configuration. The endpoints
// (gateway/store, gateway/ldap, gateway/upstream) import only this package; gateway/endpointtest is the
// conformance suite each passes.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/scim"
)

// Endpoint is a system the gateway provisions (the embedded store, an upstream SCIM application, an LDAP
// directory). Every implementation passes the conformance suite in gateway/endpointtest.
//
// Ids are the endpoint's own resource ids. Errors wrap one of the sentinel errors below so that the subscriber
// and the SCIM server can decide between retry, term and the HTTP status without knowing the endpoint.
type Endpoint interface {
	// FindUser returns the user whose userName equals userName (case-insensitive, RFC 7643 §4.1.1), or an error
	// wrapping ErrNotFound.
	FindUser(ctx context.Context, userName string) (scim.User, error)
	// GetUser returns the user with the endpoint id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (scim.User, error)
	// ListUsers returns the users; filter is an optional SCIM filter the endpoint MAY use to narrow the result
	// (it must return a superset of the matches: callers apply the filter, sorting and paging again).
	ListUsers(ctx context.Context, filter string) ([]scim.User, error)
	// CreateUser creates u and returns it as stored (with id and meta). ErrConflict when the userName exists.
	CreateUser(ctx context.Context, u scim.User) (scim.User, error)
	// ReplaceUser replaces every attribute of the user (PUT semantics; groups are not part of it).
	ReplaceUser(ctx context.Context, id string, u scim.User) (scim.User, error)
	// ModifyUser changes only the attributes present in changes (soft sync); a JSON null removes one.
	ModifyUser(ctx context.Context, id string, changes scim.User) (scim.User, error)
	// DeleteUser deletes the user and its group memberships; ErrNotFound when absent.
	DeleteUser(ctx context.Context, id string) error

	// GetGroup, ListGroups, CreateGroup, ReplaceGroup, DeleteGroup behave like their user counterparts; a
	// group's uniqueness key is displayName.
	GetGroup(ctx context.Context, id string) (scim.Group, error)
	ListGroups(ctx context.Context, filter string) ([]scim.Group, error)
	CreateGroup(ctx context.Context, g scim.Group) (scim.Group, error)
	ReplaceGroup(ctx context.Context, id string, g scim.Group) (scim.Group, error)
	DeleteGroup(ctx context.Context, id string) error
	// AddMembers and RemoveMembers change a group's members (user ids); adding a present member or removing an
	// absent one is not an error (idempotent).
	AddMembers(ctx context.Context, groupID string, userIDs ...string) error
	RemoveMembers(ctx context.Context, groupID string, userIDs ...string) error

	// Close releases the endpoint's resources.
	Close() error
}

// Sentinel errors an endpoint wraps (fmt.Errorf("ldap: user %q: %w", name, endpoint.ErrNotFound)).
var (
	// ErrNotFound: the resource does not exist. SCIM 404.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness attribute (userName, group displayName) is taken. SCIM 409 uniqueness.
	ErrConflict = errors.New("already exists")
	// ErrInvalid: the request can never succeed as it is (schema violation, bad value). SCIM 400; the
	// subscriber terminates such a message rather than retrying it.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the endpoint cannot be reached or is busy; retry later. SCIM 503; the subscriber naks
	// with back-off. Errors that wrap none of these are treated as unavailable too: retrying never loses data.
	ErrUnavailable = errors.New("endpoint unavailable")
)

// Env is what an endpoint's Factory gets besides its own configuration.
type Env struct {
	// Dir is the directory of the gateway's config file; an endpoint keeps its files (the store's bbolt file)
	// there unless configured otherwise.
	Dir string
	// Name is the gateway's name (used in ids that must be stable across runs).
	Name string
	Log  *slog.Logger
}

// Factory opens an endpoint from its `endpoint:` configuration node (type included).
type Factory func(ctx context.Context, node *yaml.Node, env Env) (Endpoint, error)

// Factories are the endpoint types a gateway can open, by the name `endpoint.type` selects them with. The command
// lists them explicitly, as it lists the collector sources.
type Factories map[string]Factory

// Types lists the endpoint types, sorted.
func (f Factories) Types() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the endpoint of the given type.
func (f Factories) Open(ctx context.Context, typ string, node *yaml.Node, env Env) (Endpoint, error) {
	open := f[typ]
	if open == nil {
		return nil, fmt.Errorf("endpoint.type: unknown endpoint type %q: use one of %v", typ, f.Types())
	}
	return open(ctx, node, env)
}

// Batcher is implemented by endpoints that can apply several messages in one transaction (the store: one bbolt
// commit, one fsync, for a pulled batch instead of two per message). Every endpoint call made with the context fn
// gets belongs to the transaction; it is committed when fn returns nil and nothing of it is kept otherwise. An
// endpoint call that fails with a sentinel error (ErrConflict, ErrNotFound, ErrInvalid) must leave the
// transaction as it was, so the caller can go on with the next message.
type Batcher interface {
	Batch(ctx context.Context, fn func(ctx context.Context) error) error
}
