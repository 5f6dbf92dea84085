package hr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody bounds one page; a SuccessFactors page of 1,000 people with the documented $expand is about 5 MB.
const maxBody = 512 << 20

// attempt is the outcome of one try of a request.
type attempt struct {
	body       []byte
	err        error
	retry      bool          // worth another try
	failover   bool          // try the next base URL (the server or the network is at fault, not the request)
	retryAfter time.Duration // the server's Retry-After, 0 when absent
}

// get fetches ref (a request URI relative to the base URLs, or an absolute link) with retries and failover. It
// returns the body and the base URL that served it ("" for an absolute link).
func (s *Source) get(ctx context.Context, ref string) ([]byte, string, error) {
	abs := strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://")
	s.mu.Lock()
	first := s.preferred
	s.mu.Unlock()
	shift := 0
	reauthed := false
	var last attempt
	for try := 1; ; try++ {
		i := (first + shift) % len(s.bases)
		base, target := s.bases[i], ref
		if abs {
			base = ""
		} else {
			target = s.bases[i] + ref
		}
		last = s.try(ctx, base, target)
		if last.err == nil {
			if !abs && i != first {
				s.mu.Lock()
				s.preferred = i
				s.mu.Unlock()
				s.log.Warn("hr: failed over to another base URL", "base_url", redactURL(base))
			}
			return last.body, base, nil
		}
		if ctx.Err() != nil {
			return nil, base, fmt.Errorf("hr tenant %q: GET %s: %w", s.tenant, s.display(target), ctx.Err())
		}
		if IsStatus(last.err, http.StatusUnauthorized) && !reauthed && s.auth != nil {
			// An access token can be revoked before its expiry; one fresh token is worth a retry.
			reauthed = true
			s.auth.invalidate()
			continue
		}
		if !last.retry || try >= s.attempts {
			if last.retry {
				return nil, base, fmt.Errorf("hr tenant %q: GET %s: gave up after %d attempts: %w", s.tenant, s.display(target), try, last.err)
			}
			return nil, base, fmt.Errorf("hr tenant %q: GET %s: %w", s.tenant, s.display(target), last.err)
		}
		if last.failover && !abs && len(s.bases) > 1 {
			shift++
			s.log.Warn("hr: base URL failed, trying the next one", "base_url", redactURL(base), "error", last.err.Error())
			if shift%len(s.bases) != 0 {
				continue // another base URL is tried at once; a full round waits below
			}
		}
		wait := last.retryAfter
		if wait <= 0 {
			wait = s.backoff << min(try-1, 8)
		}
		wait = min(wait, s.maxWait)
		s.log.Warn("hr: request failed, retrying", "url", s.display(target), "attempt", try, "wait", wait.String(), "error", last.err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, base, fmt.Errorf("hr tenant %q: GET %s: %w (while waiting to retry after: %v)", s.tenant, s.display(target), ctx.Err(), last.err)
		case <-t.C:
		}
	}
}

// try sends one GET bounded by general.request_timeout (headers and body).
func (s *Source) try(ctx context.Context, base, target string) attempt {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return attempt{err: fmt.Errorf("bad request URL: %v", unwrapURL(err))}
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range s.header {
		req.Header.Set(k, v)
	}
	if s.auth != nil {
		if err := s.auth.authorize(ctx, req, base); err != nil {
			var tr *tokenError
			if errors.As(err, &tr) && tr.retry {
				return attempt{err: err, retry: true, failover: tr.failover, retryAfter: tr.retryAfter}
			}
			return attempt{err: err}
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return s.networkError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		ra := retryAfter(resp.Header.Get("Retry-After"), s.now())
		msg := fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if t := strings.TrimSpace(s.secrets.redact(string(snippet))); t != "" {
			msg += ": " + oneLine(t, 300)
		}
		switch code := resp.StatusCode; {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			msg += " (check the tenant's auth settings)"
		case code == http.StatusTooManyRequests:
			msg += " (rate limited)"
		}
		a := attempt{err: &errStatus{code: resp.StatusCode, msg: msg}, retryAfter: ra}
		switch code := resp.StatusCode; {
		case code == http.StatusTooManyRequests:
			a.retry = true // throttling is per client: the same base URL, after Retry-After
		case code == http.StatusServiceUnavailable:
			a.retry, a.failover = true, ra == 0
		case code == http.StatusRequestTimeout || code >= 500:
			a.retry, a.failover = true, true
		}
		return a
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return s.networkError(ctx, err)
	}
	if len(body) > maxBody {
		return attempt{err: fmt.Errorf("page larger than %d MB; lower the page size (customPageSize or $top)", maxBody>>20)}
	}
	return attempt{body: body}
}

func (s *Source) networkError(ctx context.Context, err error) attempt {
	err = unwrapURL(err)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (no complete answer within general.request_timeout %s)", context.DeadlineExceeded, s.timeout)
	}
	return attempt{err: err, retry: true, failover: true}
}

// unwrapURL drops *url.Error's copy of the URL: the caller names the URL itself, redacted.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// escapeRequestURI percent-encodes what may not appear raw in a request line, so the documented query string
// (`$filter=employmentNav/startDate ne null`) can be written in the config as is. Existing escapes stay.
func escapeRequestURI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>\^`+"`{|}", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// secretParams are query parameters whose values are masked in logs and errors.
var secretParams = []string{"key", "token", "secret", "password", "passwd", "assertion", "signature", "sig", "code", "auth"}

// redactURL removes credentials from a URL for logs and errors: user info and the values of query parameters
// whose names suggest a secret.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			name, _, found := strings.Cut(p, "=")
			if !found {
				continue
			}
			n := strings.ToLower(name)
			if un, err := url.QueryUnescape(name); err == nil {
				n = strings.ToLower(un)
			}
			for _, sp := range secretParams {
				if strings.Contains(n, sp) {
					parts[i] = name + "=****"
					break
				}
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.String()
}

// display is a URL or request URI as logs and errors show it: absolute, redacted, and without secrets the
// configuration holds.
func (s *Source) display(target string) string {
	if strings.HasPrefix(target, "/") {
		s.mu.Lock()
		target = s.bases[s.preferred] + target
		s.mu.Unlock()
	}
	return s.secrets.redact(redactURL(target))
}

// redactor masks known secret values (configured secrets, issued tokens) in text that came from elsewhere, such
// as an error body echoing a request.
type redactor struct {
	mu     sync.Mutex
	vals   []string
	tokens []string // the last few issued access tokens
}

// addToken remembers an issued access token; older ones are dropped (they expired or were replaced).
func (r *redactor) addToken(v string) {
	if len(v) < 4 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = append(r.tokens, v)
	if len(r.tokens) > 8 {
		r.tokens = r.tokens[1:]
	}
}

func (r *redactor) add(v string) {
	if len(v) < 4 { // masking tiny strings would garble every message
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.vals {
		if x == v {
			return
		}
	}
	r.vals = append(r.vals, v)
}

func (r *redactor) redact(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.vals {
		s = strings.ReplaceAll(s, v, "****")
	}
	for _, v := range r.tokens {
		s = strings.ReplaceAll(s, v, "****")
	}
	return s
}

func sorted(s []string) []string { sort.Strings(s); return s }
