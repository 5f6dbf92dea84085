package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
)

const scimJSON = "application/scim+json"

// client sends SCIM requests to the first base URL that answers.
type client struct {
	cfg  Config
	http *http.Client
	auth authorizer
	log  *slog.Logger

	mu      sync.Mutex
	current int // index of the base URL that answered last
}

// RetryAfterError is an ErrUnavailable that carries the upstream's Retry-After (429 Too Many Requests, 503).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter lets the subscriber find the delay without importing this package:
// errors.As(err, &x) with x of type interface{ RetryAfter() time.Duration }.
func (e *RetryAfterError) RetryAfter() time.Duration { return e.After }

func newClient(cfg Config, env endpoint.Env) (*client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tc, err := tlsConfig(cfg.TLS, env.Dir)
	if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = tc
	if cfg.Proxy.URL != "" {
		pu, _ := url.Parse(cfg.Proxy.URL)
		if cfg.Proxy.Username != "" {
			pu.User = url.UserPassword(cfg.Proxy.Username, cfg.Proxy.Password.Reveal())
		}
		tr.Proxy = http.ProxyURL(pu)
	}
	hc := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &client{cfg: cfg, http: hc, log: log}
	c.auth, err = newAuthorizer(cfg.Auth, hc)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func tlsConfig(t TLS, dir string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CA != "" {
		pem, err := os.ReadFile(resolve(dir, t.CA))
		if err != nil {
			return nil, fmt.Errorf("endpoint.tls.ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("endpoint.tls.ca: %s holds no PEM certificate", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(resolve(dir, t.Cert), resolve(dir, t.Key))
		if err != nil {
			return nil, fmt.Errorf("endpoint.tls.cert/key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// resolve makes a configured file name relative to the gateway's configuration directory.
func resolve(dir, name string) string {
	if filepath.IsAbs(name) || dir == "" {
		return name
	}
	return filepath.Join(dir, name)
}

// do sends method path (relative to the base URL) with body as JSON and decodes a JSON answer into out (when
// not nil). It fails over to the next base URL when one cannot be reached or answers 502/503/504, and maps the
// final HTTP status to the gateway's sentinel errors. what names the object for error messages.
func (c *client) do(ctx context.Context, method, path string, body, out any, what string) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("scim upstream: %s: %v: %w", what, err, endpoint.ErrInvalid)
		}
	}
	c.mu.Lock()
	start := c.current
	c.mu.Unlock()
	n := len(c.cfg.BaseURLs)
	var lastErr error
	for i := range n {
		idx := (start + i) % n
		base := c.cfg.BaseURLs[idx]
		status, hdr, resp, err := c.send(ctx, method, base+path, raw)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("scim upstream %s: %s: %v: %w", base, what, ctx.Err(), endpoint.ErrUnavailable)
			}
			lastErr = fmt.Errorf("scim upstream %s: %s: %v: %w", base, what, err, endpoint.ErrUnavailable)
			continue
		}
		if status == http.StatusBadGateway || status == http.StatusGatewayTimeout ||
			(status == http.StatusServiceUnavailable && n > 1 && i < n-1) {
			lastErr = statusError(base, what, status, hdr, resp)
			continue
		}
		if idx != start {
			c.log.Warn("scim upstream: failed over to the next base URL", "from", c.cfg.BaseURLs[start], "to", base, "reason", lastErr)
		}
		c.mu.Lock()
		c.current = idx
		c.mu.Unlock()
		if status >= 300 {
			return statusError(base, what, status, hdr, resp)
		}
		if out != nil && len(bytes.TrimSpace(resp)) > 0 {
			if err := json.Unmarshal(resp, out); err != nil {
				return fmt.Errorf("scim upstream %s: %s: the answer is not SCIM JSON: %v: %w", base, what, err, endpoint.ErrUnavailable)
			}
		}
		return nil
	}
	return lastErr
}

// maxBody bounds what is read of one answer: a SCIM page of users, not an unbounded stream.
const maxBody = 64 << 20

func (c *client) send(ctx context.Context, method, u string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", scimJSON+", application/json")
	if body != nil {
		req.Header.Set("Content-Type", scimJSON)
	}
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	if err := c.auth.authorize(ctx, req); err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// A token may have been revoked or expired early: fetch a new one for the next attempt.
		c.auth.invalidate()
	}
	return resp.StatusCode, resp.Header, data, nil
}

// scimError is the SCIM error body (RFC 7644 §3.12).
type scimError struct {
	Detail   string `json:"detail"`
	ScimType string `json:"scimType"`
}

// HTTPError is an upstream's error answer; it wraps the gateway sentinel its status maps to.
type HTTPError struct {
	URL      string // base URL that answered
	What     string // the object and action, e.g. user "a@b": create
	Status   int
	ScimType string
	Detail   string
	sentinel error
	hint     string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("scim upstream %s: %s: HTTP %d", e.URL, e.What, e.Status)
	if e.ScimType != "" {
		msg += " " + e.ScimType
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.hint != "" {
		msg += ": " + e.hint
	}
	return msg + ": " + e.sentinel.Error()
}

func (e *HTTPError) Unwrap() error { return e.sentinel }

func statusError(base, what string, status int, hdr http.Header, body []byte) error {
	var se scimError
	_ = json.Unmarshal(body, &se)
	e := &HTTPError{URL: base, What: what, Status: status, ScimType: se.ScimType, Detail: se.Detail}
	switch {
	case status == http.StatusNotFound:
		e.sentinel = endpoint.ErrNotFound
	case status == http.StatusConflict, status == http.StatusBadRequest && se.ScimType == "uniqueness":
		e.sentinel = endpoint.ErrConflict
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		e.sentinel = endpoint.ErrUnavailable
		if after, ok := retryAfter(hdr.Get("Retry-After")); ok {
			return &RetryAfterError{After: after, Err: e}
		}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Credentials or permissions are configuration: retrying after they are fixed loses nothing.
		e.sentinel = endpoint.ErrUnavailable
		e.hint = "check endpoint.auth and the client's permissions at the application"
	case status == http.StatusRequestTimeout || status == http.StatusPreconditionFailed || status >= 500:
		e.sentinel = endpoint.ErrUnavailable
	case status >= 400:
		e.sentinel = endpoint.ErrInvalid
	default:
		e.sentinel = endpoint.ErrUnavailable
		e.hint = "unexpected status"
	}
	return e
}

// retryAfter parses Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3).
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := time.Until(t)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// isNoTarget reports an upstream's 400 noTarget: a PATCH remove whose filter matched nothing.
func isNoTarget(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusBadRequest && he.ScimType == "noTarget"
}
