package hr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scim-stream/scim-stream/config"
)

// authorizer sets the credentials of one API request. base is the base URL the request goes to (a token
// endpoint derived from it follows failover), "" for an absolute link.
type authorizer interface {
	authorize(ctx context.Context, req *http.Request, base string) error
	// invalidate drops cached access tokens after the API refused one.
	invalidate()
}

// newAuthorizer picks the configured method. When several are configured, the strongest wins:
// oauth_saml_assertion, oauth, bearer_token, basic. Extra headers are added by the source in every case.
func newAuthorizer(key string, a config.Auth, s *Source, certsDir string) (authorizer, error) {
	switch {
	case a.OAuthSAMLAssertion != nil:
		return newSAML(key+".oauth_saml_assertion", a.OAuthSAMLAssertion, s, certsDir)
	case a.OAuth != nil:
		if len(a.OAuth.Clients) == 0 {
			return nil, fmt.Errorf("%s.oauth.clients: at least one client (client_id, client_secret) is needed", key)
		}
		rr := &roundRobin{}
		for i, c := range a.OAuth.Clients {
			if c.ClientID == "" || c.ClientSecret.Reveal() == "" {
				return nil, fmt.Errorf("%s.oauth.clients[%d]: client_id and client_secret are mandatory", key, i)
			}
			s.secrets.add(c.ClientSecret.Reveal())
			rr.clients = append(rr.clients, &tokenCache{src: s, name: "oauth client " + c.ClientID,
				fetch: clientCredentials(s, c.ClientID, c.ClientSecret.Reveal())})
		}
		return rr, nil
	case a.BearerToken != nil:
		tok := a.BearerToken.Token.Reveal()
		if tok == "" {
			return nil, fmt.Errorf("%s.bearer_token.token: the token is empty", key)
		}
		s.secrets.add(tok)
		return static("Bearer " + tok), nil
	case a.Basic != nil:
		if a.Basic.Username == "" {
			return nil, fmt.Errorf("%s.basic.username: the user name is empty", key)
		}
		s.secrets.add(a.Basic.Password.Reveal())
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(a.Basic.Username, a.Basic.Password.Reveal())
		h := req.Header.Get("Authorization")
		s.secrets.add(strings.TrimPrefix(h, "Basic "))
		return static(h), nil
	}
	return nil, nil // header-only or anonymous API
}

// static is a fixed Authorization header (basic, bearer_token).
type static string

func (h static) authorize(_ context.Context, req *http.Request, _ string) error {
	req.Header.Set("Authorization", string(h))
	return nil
}

func (static) invalidate() {}

// roundRobin spreads requests over several OAuth clients, each with its own token, so one client's rate limit
// is not the collection's.
type roundRobin struct {
	clients []*tokenCache
	next    atomic.Uint64
}

func (r *roundRobin) authorize(ctx context.Context, req *http.Request, base string) error {
	c := r.clients[int((r.next.Add(1)-1)%uint64(len(r.clients)))]
	return c.authorize(ctx, req, base)
}

func (r *roundRobin) invalidate() {
	for _, c := range r.clients {
		c.invalidate()
	}
}

// fetchFunc obtains a new access token and its lifetime.
type fetchFunc func(ctx context.Context, base string) (string, time.Duration, error)

// tokenCache keeps one access token until shortly before it expires.
type tokenCache struct {
	src   *Source
	name  string
	fetch fetchFunc

	mu  sync.Mutex
	tok string
	exp time.Time
}

func (c *tokenCache) authorize(ctx context.Context, req *http.Request, base string) error {
	tok, err := c.token(ctx, base)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

func (c *tokenCache) token(ctx context.Context, base string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.src.now()
	if c.tok != "" && now.Before(c.exp) {
		return c.tok, nil
	}
	tok, ttl, err := c.fetch(ctx, base)
	if err != nil {
		return "", err
	}
	// Renew a little early (a tenth of the lifetime, at most a minute) so a request never races the expiry.
	c.tok, c.exp = tok, now.Add(ttl-min(ttl/10, time.Minute))
	c.src.secrets.addToken(tok)
	c.src.log.Debug("hr: access token obtained", "auth", c.name, "expires_in", ttl.String())
	return tok, nil
}

func (c *tokenCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok = ""
}

// tokenError is a failed token request; retry and failover follow the same rules as API requests.
type tokenError struct {
	msg        string
	retry      bool
	failover   bool
	retryAfter time.Duration
}

func (e *tokenError) Error() string { return e.msg }

// tokenURLFor is where client-credentials tokens come from: <base URL>/oauth/token, SuccessFactors' token
// endpoint, on the base URL the request goes to so failover covers it.
func (s *Source) tokenURLFor(base string) string {
	if base == "" {
		s.mu.Lock()
		base = s.bases[s.preferred]
		s.mu.Unlock()
	}
	return base + "/oauth/token"
}

func clientCredentials(s *Source, id, secret string) fetchFunc {
	return func(ctx context.Context, base string) (string, time.Duration, error) {
		form := url.Values{"grant_type": {"client_credentials"}}
		return s.requestToken(ctx, s.tokenURLFor(base), form, func(r *http.Request) {
			r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) // RFC 6749 §2.3.1
		}, "oauth client "+id)
	}
}

// requestToken POSTs a token request and reads an RFC 6749 token response.
func (s *Source) requestToken(ctx context.Context, tokenURL string, form url.Values, decorate func(*http.Request), who string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &tokenError{msg: fmt.Sprintf("%s: token URL %s: %v", who, redactURL(tokenURL), unwrapURL(err))}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if decorate != nil {
		decorate(req)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", 0, &tokenError{msg: fmt.Sprintf("%s: token request to %s: %v", who, redactURL(tokenURL), unwrapURL(err)), retry: true, failover: true}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, &tokenError{msg: fmt.Sprintf("%s: token response from %s: %v", who, redactURL(tokenURL), err), retry: true, failover: true}
	}
	if resp.StatusCode != http.StatusOK {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		detail := oneLine(s.secrets.redact(string(body)), 300)
		if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
			detail = s.secrets.redact(strings.TrimSpace(oe.Error + ": " + oe.Description))
		}
		e := &tokenError{msg: fmt.Sprintf("%s: token request to %s refused: HTTP %d: %s", who, redactURL(tokenURL), resp.StatusCode, detail),
			retryAfter: retryAfter(resp.Header.Get("Retry-After"), s.now())}
		switch code := resp.StatusCode; {
		case code == http.StatusTooManyRequests:
			e.retry = true
		case code >= 500:
			e.retry, e.failover = true, true
		}
		return "", 0, e
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", 0, &tokenError{msg: fmt.Sprintf("%s: token response from %s has no access_token; is token_url the OAuth token endpoint?", who, redactURL(tokenURL))}
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", 0, &tokenError{msg: fmt.Sprintf("%s: token response from %s has token_type %q; only Bearer is supported", who, redactURL(tokenURL), tr.TokenType)}
	}
	// expires_in is a number by RFC 6749; some servers send a string. Absent means an hour, a common default.
	ttl := time.Hour
	if raw := strings.Trim(string(tr.ExpiresIn), `"`); raw != "" && raw != "null" {
		n, err := strconv.ParseFloat(raw, 64)
		if err != nil || n <= 0 {
			return "", 0, &tokenError{msg: fmt.Sprintf("%s: token response from %s: expires_in %s is not a positive number", who, redactURL(tokenURL), string(tr.ExpiresIn))}
		}
		ttl = time.Duration(n * float64(time.Second))
	}
	return tr.AccessToken, ttl, nil
}
