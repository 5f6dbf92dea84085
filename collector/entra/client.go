package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/time/rate"
)

// maxAttempts bounds retries of one request on throttling and transient server errors. With Retry-After
// honoured this rides out several minutes of throttling before the collection fails and is retried whole.
const maxAttempts = 10

// graphError is an error answer from Graph.
type graphError struct {
	Status  int
	Code    string
	Message string
	Path    string
}

func (e *graphError) Error() string {
	return fmt.Sprintf("GET %s: %d %s: %s", e.Path, e.Status, e.Code, e.Message)
}

// errResync means Graph no longer has the sync state behind a delta link: the source must start over.
var errResync = errors.New("delta sync state expired")

func isResync(err error) bool {
	var ge *graphError
	if !errors.As(err, &ge) {
		return false
	}
	// 410 Gone is the documented answer; some directory resources answer 400 with these codes instead.
	return ge.Status == http.StatusGone || ge.Code == "syncStateNotFound" || ge.Code == "resyncRequired" ||
		ge.Code == "syncStateInvalid"
}

// client calls Graph with bearer tokens, retrying throttled and transient failures.
type client struct {
	http    *http.Client
	base    string // e.g. https://graph.microsoft.com/v1.0
	cred    azcore.TokenCredential
	scope   string
	timeout time.Duration
	log     *slog.Logger
	sleep   func(ctx context.Context, d time.Duration) error

	// audit keeps directoryAudits within Graph's budget for that API (5 requests per 10 s per tenant), which
	// is far below the general one.
	audit *rate.Limiter

	mu   sync.Mutex
	slow time.Duration // pause before each request while Graph reports more than 80% of the limit used
}

// auditBudget stays under Graph's directoryAudits limit with one request of headroom for other tools of the
// tenant: a token bucket of burst b refilled every p allows b + 10s/p requests in any 10 s, here 1 + 3.
func auditBudget() *rate.Limiter { return rate.NewLimiter(rate.Every(10*time.Second/3), 1) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// path returns the URL without its query, for errors and logs (skip and delta tokens are long and useless there).
func path(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// get fetches u (absolute, or relative to the Graph base) and decodes the JSON answer into out.
func (c *client) get(ctx context.Context, u string, out any) error {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		u = c.base + u
	} else if !sameHost(u, c.base) {
		// Paging links are absolute; the bearer token must never travel to a host other than Graph's.
		return fmt.Errorf("GET %s: link leaves the Graph host %s; not followed", path(u), c.base)
	}
	for attempt := 1; ; attempt++ {
		c.mu.Lock()
		slow := c.slow
		c.mu.Unlock()
		if err := c.sleep(ctx, slow); err != nil {
			return err
		}
		retry, wait, err := c.try(ctx, u, out)
		if err == nil || !retry {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		if wait <= 0 {
			wait = time.Duration(math.Min(float64(time.Second)*math.Pow(2, float64(attempt-1)), float64(time.Minute)))
		}
		c.log.Warn("entra: Graph request throttled or failed, retrying", "path", path(u), "attempt", attempt, "wait", wait, "error", err)
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// try makes one request. It reports whether a failure is worth retrying and how long Graph asked to wait.
func (c *client) try(ctx context.Context, u string, out any) (retry bool, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return false, 0, fmt.Errorf("get token for %s: %w", c.scope, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, 0, fmt.Errorf("GET %s: %w", path(u), err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return true, 0, fmt.Errorf("GET %s: no answer within request_timeout %s: %w", path(u), c.timeout, err)
		}
		var ue *url.Error
		return errors.As(err, &ue), 0, fmt.Errorf("GET %s: %w", path(u), err)
	}
	defer func() {
		// Drain what the decoder left (Graph ends bodies with a newline) so the connection is reused: a new TLS
		// handshake per page costs more than the page.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}()
	c.adjust(resp.Header.Get("x-ms-throttle-limit-percentage"))
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return true, 0, fmt.Errorf("GET %s: decode answer: %w", path(u), err)
		}
		return false, 0, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	ge := &graphError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Path: path(u)}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusBadGateway, http.StatusInternalServerError:
		return true, retryAfter(resp.Header.Get("Retry-After")), ge
	case http.StatusUnauthorized, http.StatusForbidden:
		ge.Message += " (check the application's Graph permissions User.Read.All, Group.Read.All, AuditLog.Read.All, Application.Read.All with admin consent)"
	}
	return false, 0, ge
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// adjust slows down when Graph says the application used more than 80% of its throttling limit: a pause that
// grows to 2 s per request at 100%, instead of running into 429s.
func (c *client) adjust(pct string) {
	var slow time.Duration
	if p, err := strconv.ParseFloat(strings.TrimSpace(pct), 64); err == nil && p > 0.8 {
		slow = time.Duration(math.Min((p-0.8)/0.2, 1) * float64(2*time.Second))
	}
	c.mu.Lock()
	c.slow = slow
	c.mu.Unlock()
}

// page is one OData page.
type page[T any] struct {
	Value     []T    `json:"value"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
}

// all follows nextLinks from u, calling each for every page; it returns the final deltaLink (empty for
// collections that are not delta queries).
func all[T any](ctx context.Context, c *client, u string, each func([]T) error) (string, error) {
	for u != "" {
		var p page[T]
		if err := c.get(ctx, u, &p); err != nil {
			return "", err
		}
		if err := each(p.Value); err != nil {
			return "", err
		}
		if p.NextLink == "" {
			return p.DeltaLink, nil
		}
		u = p.NextLink
	}
	return "", nil
}

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}
