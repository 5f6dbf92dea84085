package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// authorizer adds credentials to a request.
type authorizer interface {
	authorize(ctx context.Context, req *http.Request) error
	// invalidate drops a cached token after a 401.
	invalidate()
}

func newAuthorizer(a Auth, hc *http.Client) (authorizer, error) {
	switch a.Type {
	case "basic":
		return basicAuth(a), nil
	case "bearer":
		return bearerAuth(a), nil
	case "oauth":
		return &clientCredentials{cfg: a, http: hc}, nil
	}
	return noAuth{}, nil
}

type noAuth struct{}

func (noAuth) authorize(context.Context, *http.Request) error { return nil }
func (noAuth) invalidate()                                    {}

type basicAuth Auth

func (b basicAuth) authorize(_ context.Context, req *http.Request) error {
	req.SetBasicAuth(b.Username, b.Password.Reveal())
	return nil
}
func (basicAuth) invalidate() {}

type bearerAuth Auth

func (b bearerAuth) authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer "+b.Token.Reveal())
	return nil
}
func (bearerAuth) invalidate() {}

// clientCredentials is the OAuth 2.0 client credentials grant (RFC 6749 §4.4) with the token cached until a
// minute before it expires.
type clientCredentials struct {
	cfg  Auth
	http *http.Client

	mu      sync.Mutex
	token   string
	expires time.Time
}

// tokenSlack renews a token this long before its expiry so that it does not expire in flight.
const tokenSlack = time.Minute

func (c *clientCredentials) invalidate() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

func (c *clientCredentials) authorize(ctx context.Context, req *http.Request) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" || time.Now().After(c.expires) {
		tok, ttl, err := c.fetch(ctx)
		if err != nil {
			return err
		}
		c.token = tok
		c.expires = time.Now().Add(ttl - min(tokenSlack, ttl/2))
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return nil
}

func (c *clientCredentials) fetch(ctx context.Context) (string, time.Duration, error) {
	// The client authenticates in the body (client_secret_post, RFC 6749 §2.3.1): it has no encoding
	// ambiguity, unlike HTTP Basic with form-encoded credentials that servers decode differently.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.cfg.ClientID}, "client_secret": {c.cfg.ClientSecret.Reveal()}}
	if c.cfg.Scope != "" {
		form.Set("scope", c.cfg.Scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("endpoint.auth.token_url %q: %w", c.cfg.TokenURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("endpoint.auth.token_url %q: %w", c.cfg.TokenURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return "", 0, fmt.Errorf("endpoint.auth.token_url %q: token request for client_id %q failed: HTTP %d %s %s",
			c.cfg.TokenURL, c.cfg.ClientID, resp.StatusCode, tr.Error, tr.Description)
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 5 * time.Minute // expires_in is optional: assume a short-lived token
	}
	return tr.AccessToken, ttl, nil
}
