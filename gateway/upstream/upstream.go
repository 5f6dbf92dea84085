// Package upstream is the gateway endpoint of type "scim": it forwards every operation to an upstream SCIM 2.0
// service provider (RFC 7644) over HTTPS, with failover between base URLs, basic, bearer or OAuth client
// credentials authentication, a custom CA, a proxy and a request timeout.
//
// Errors map to the gateway's sentinels by HTTP status: 404 → ErrNotFound, 409 → ErrConflict, other 4xx →
// ErrInvalid (the subscriber terms the message), and 401/403/408/429/5xx and network errors → ErrUnavailable (the
// subscriber retries; a Retry-After is kept in a *RetryAfterError).
package upstream

import (
	"context"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
)

// Type is the endpoint type in the gateway configuration (`endpoint: {type: scim}`).
const Type = "scim"

// OpenConfig opens the endpoint of an `endpoint:` configuration node: it is this package's endpoint.Factory.
func OpenConfig(ctx context.Context, node *yaml.Node, env endpoint.Env) (endpoint.Endpoint, error) {
	cfg, err := Decode(node)
	if err != nil {
		return nil, err
	}
	return Open(ctx, cfg, env)
}

// Endpoint forwards to an upstream SCIM service provider. It is safe for concurrent use.
type Endpoint struct {
	c *client
}

var _ endpoint.Endpoint = (*Endpoint)(nil)

// Open checks the configuration and prepares the HTTP client; it does not contact the upstream, so that a
// gateway starts while its application is down (operations then fail with endpoint.ErrUnavailable).
func Open(ctx context.Context, cfg Config, env endpoint.Env) (*Endpoint, error) {
	c, err := newClient(cfg, env)
	if err != nil {
		return nil, fmt.Errorf("endpoint (type scim): %w", err)
	}
	return &Endpoint{c: c}, nil
}

// Close releases idle connections.
func (e *Endpoint) Close() error {
	e.c.http.CloseIdleConnections()
	return nil
}
