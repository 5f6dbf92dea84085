// Package hr is the HR collector source: a general REST collector that GETs every person from an HR system
// (SAP SuccessFactors OData v2, OData v4, or a plain JSON array), following the server's paging and failing over
// across base URLs, and emits each person as a raw record. It is a full source: every collection emits everyone,
// and the pipeline detects leavers who vanished. It never publishes.
package hr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// Options are the process-wide dependencies of a source. The zero value works.
type Options struct {
	// HTTPClient sends every request (its Timeout is not used: general.request_timeout bounds each request).
	// nil means a client cloned from http.DefaultTransport.
	HTTPClient *http.Client
	Log        *slog.Logger
	// Now is the clock for token expiry, SAML assertion validity and progress lines; nil means time.Now.
	Now func() time.Time
	// CertsDir holds oauth_saml_assertion's key_file and cert_file; empty means config/certs.
	CertsDir string
	// ProgressEvery is the least time between progress log lines of one collection; 0 means 5s.
	ProgressEvery time.Duration
	// MaxAttempts bounds the tries of one request across retries and failover; 0 means 6.
	MaxAttempts int
	// MaxRetryAfter caps how long one Retry-After is honoured; 0 means 5 minutes.
	MaxRetryAfter time.Duration
}

// Source collects one hr tenant.
type Source struct {
	tenant     string
	bases      []string // without trailing slash
	query      string   // collect_query_string, escaped for the request line
	resultPath []string // collect_query_result_path split on '.', nil for a root array
	idPath     []string // where Record.ID is read, nil when the userName mapping is not a plain path
	header     map[string]string
	auth       authorizer
	secrets    *redactor
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time
	timeout    time.Duration
	progress   time.Duration
	attempts   int
	maxWait    time.Duration
	backoff    time.Duration // first wait when a failure carries no Retry-After; doubles per retry

	mu        sync.Mutex
	preferred int // base URL that answered last: failover is sticky until that one fails
}

// New builds the source of hr tenant `tenant` from its (validated) configuration.
func New(tenant string, t config.Tenant, opts Options) (*Source, error) {
	s := &Source{tenant: tenant, client: opts.HTTPClient, log: opts.Log, now: opts.Now, timeout: t.General.Timeout(),
		progress: opts.ProgressEvery, attempts: opts.MaxAttempts, maxWait: opts.MaxRetryAfter, backoff: time.Second,
		secrets: &redactor{}}
	if s.client == nil {
		s.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout <= 0 {
		s.timeout = config.DefaultRequestTimeout * time.Second
	}
	if s.progress <= 0 {
		s.progress = 5 * time.Second
	}
	if s.attempts <= 0 {
		s.attempts = 6
	}
	if s.maxWait <= 0 {
		s.maxWait = 5 * time.Minute
	}
	s.log = s.log.With("tenant", tenant, "type", string(wire.HR))
	p := "hr." + tenant
	if len(t.Auth.BaseURLs) == 0 {
		return nil, fmt.Errorf("%s.auth.base_urls: at least one base URL of the HR API is needed, e.g. https://api2.successfactors.eu", p)
	}
	for i, b := range t.Auth.BaseURLs {
		u, err := url.Parse(strings.TrimSpace(b))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%s.auth.base_urls[%d]: %q is not an http(s) URL such as https://api2.successfactors.eu", p, i, redactURL(b))
		}
		if u.User != nil {
			return nil, fmt.Errorf("%s.auth.base_urls[%d]: credentials in the URL are not allowed; use auth.basic", p, i)
		}
		s.bases = append(s.bases, strings.TrimRight(u.String(), "/"))
	}
	q := strings.TrimSpace(t.General.HR.CollectQueryString)
	if q == "" {
		return nil, fmt.Errorf("%s.general.hr.collect_query_string: the REST query that returns all users is mandatory", p)
	}
	if !strings.HasPrefix(q, "/") {
		q = "/" + q
	}
	s.query = escapeRequestURI(withCount(q, t.General.HR.CollectQueryResultPath))
	if rp := strings.TrimSpace(t.General.HR.CollectQueryResultPath); rp != "" {
		s.resultPath = strings.Split(rp, ".")
		for _, seg := range s.resultPath {
			if seg == "" {
				return nil, fmt.Errorf("%s.general.hr.collect_query_result_path: %q has an empty segment; use a dotted path such as d.results", p, rp)
			}
		}
	}
	s.header = t.Auth.Header
	for _, v := range t.Auth.Header {
		s.secrets.add(v) // header values are often API keys
	}
	var err error
	if s.auth, err = newAuthorizer(p+".auth", t.Auth, s, opts.CertsDir); err != nil {
		return nil, err
	}
	s.idPath = idPath(t.Mapper)
	return s, nil
}

// Type is wire.HR.
func (s *Source) Type() wire.Type { return wire.HR }

// Policy: a person the HR system no longer lists has left and is deactivated, never deleted; people have start
// and end dates.
func (s *Source) Policy() collector.Policy {
	return collector.Policy{Leavers: collector.LeaversDeactivated, Lifecycle: true}
}

// Collect emits every person, page by page. HR is a full source: it returns full=true, and the pipeline treats
// a person missing from a successful collection as a leaver. It keeps no checkpoints.
func (s *Source) Collect(ctx context.Context, _ collector.Checkpoints, emit func(collector.Record) error) (bool, error) {
	start := s.now()
	lastLog := start
	count, pages := 0, 0
	seen := map[string]bool{}
	var tally integrity
	tally.skip, tally.top = windowOf(s.query)
	for ref := s.query; ref != ""; {
		if seen[ref] {
			return false, fmt.Errorf("hr tenant %q: GET %s: the server sent the same next link twice; stopping instead of looping", s.tenant, s.display(ref))
		}
		seen[ref] = true
		body, base, err := s.get(ctx, ref)
		if err != nil {
			return s.pageFailed(ctx, pages, count, tally, err)
		}
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			return false, fmt.Errorf("hr tenant %q: GET %s: the response is not JSON (%v); check collect_query_string (e.g. $format=json)", s.tenant, s.display(base+ref), err)
		}
		items, err := s.results(doc)
		if err != nil {
			return false, fmt.Errorf("hr tenant %q: GET %s: %w", s.tenant, s.display(base+ref), err)
		}
		if pages == 0 {
			tally.announced = announcedCount(doc)
		}
		for i, it := range items {
			obj, ok := it.(map[string]any)
			if !ok {
				return false, fmt.Errorf("hr tenant %q: GET %s: collect_query_result_path %q: element [%d] is %s, not a user object", s.tenant, s.display(base+ref), s.pathText(), i, kind(it))
			}
			count++
			id := lookupID(obj, s.idPath)
			if id == "" && s.idPath != nil {
				s.badID(&tally, obj, pages+1, i, count)
				continue
			}
			if err := emit(collector.Record{ID: id, Data: obj}); err != nil {
				return false, err
			}
		}
		pages++
		cur := base + ref
		if ref, err = s.nextRef(doc, base); err != nil {
			return false, fmt.Errorf("hr tenant %q: GET %s: %w", s.tenant, s.display(cur), err)
		}
		if now := s.now(); ref != "" && now.Sub(lastLog) >= s.progress {
			lastLog = now
			el := now.Sub(start)
			s.log.Info("hr collection in progress", "users", count, "pages", pages, "elapsed", el.Round(time.Millisecond).String(),
				"rate_per_s", int(float64(count)/max(el.Seconds(), 0.001)))
		}
	}
	s.log.Debug("hr collection read", "users", count, "pages", pages, "duration", s.now().Sub(start).Round(time.Millisecond).String())
	if err := tally.check(count, pages); err != nil {
		return true, err
	}
	return true, nil
}

func (s *Source) pathText() string { return strings.Join(s.resultPath, ".") }

// results finds the user array at collect_query_result_path (the root array when the path is empty).
func (s *Source) results(doc any) ([]any, error) {
	cur := doc
	walked := ""
	for _, seg := range s.resultPath {
		obj, ok := cur.(map[string]any)
		if !ok {
			where := "the response"
			if walked != "" {
				where = fmt.Sprintf("%q", walked)
			}
			return nil, fmt.Errorf("collect_query_result_path %q: %s is %s, not an object with %q; set the path to where the users are (SuccessFactors: d.results; empty for a root array)", s.pathText(), where, kind(cur), seg)
		}
		if walked != "" {
			walked += "."
		}
		walked += seg
		v, ok := obj[seg]
		if !ok {
			return nil, fmt.Errorf("collect_query_result_path %q: %q is missing (keys: %s); set the path to where the users are (SuccessFactors: d.results; empty for a root array)", s.pathText(), walked, keys(obj))
		}
		cur = v
	}
	arr, ok := cur.([]any)
	if !ok {
		if len(s.resultPath) == 0 {
			if obj, isObj := cur.(map[string]any); isObj {
				return nil, fmt.Errorf("collect_query_result_path is empty, so a root array is expected, but the response is an object (keys: %s); set the path, e.g. d.results or value", keys(obj))
			}
			return nil, fmt.Errorf("collect_query_result_path is empty, so a root array is expected, but the response is %s", kind(cur))
		}
		return nil, fmt.Errorf("collect_query_result_path %q: %s, not an array of users", s.pathText(), kind(cur))
	}
	return arr, nil
}

// nextRef is the next page to fetch: OData v2 d.__next, OData v4 @odata.nextLink (odata.nextLink in v3 JSON
// light), or "" when the page is the last or the API does not page. A link on the base URL the page came from
// is made relative, so the next page can fail over to another base URL.
func (s *Source) nextRef(doc any, base string) (string, error) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return "", nil
	}
	var link any
	var where string
	if d, ok := obj["d"].(map[string]any); ok {
		link, where = d["__next"], "d.__next"
	}
	if link == nil {
		for _, k := range []string{"@odata.nextLink", "odata.nextLink"} {
			if v, ok := obj[k]; ok {
				link, where = v, k
				break
			}
		}
	}
	if link == nil {
		return "", nil
	}
	str, ok := link.(string)
	if !ok {
		return "", fmt.Errorf("paging link %s is %s, not a URL", where, kind(link))
	}
	if str == "" {
		return "", nil
	}
	u, err := url.Parse(str)
	if err != nil {
		return "", fmt.Errorf("paging link %s is not a URL: %v", where, err)
	}
	if !u.IsAbs() {
		if !strings.HasPrefix(str, "/") {
			// relative to the collection, as OData allows: resolve against the query's path
			ref, _ := url.Parse(s.query)
			return ref.ResolveReference(u).RequestURI(), nil
		}
		return escapeRequestURI(str), nil
	}
	for _, b := range s.bases {
		if strings.HasPrefix(str, b+"/") {
			return escapeRequestURI(strings.TrimPrefix(str, b)), nil
		}
	}
	// A link elsewhere on a configured host (a base URL with a path prefix) is followed as is, without
	// failover. Credentials are never sent to a host that is not configured.
	for _, b := range s.bases {
		if bu, err := url.Parse(b); err == nil && strings.EqualFold(bu.Scheme, u.Scheme) && strings.EqualFold(bu.Host, u.Host) {
			return str, nil
		}
	}
	return "", fmt.Errorf("paging link %s points to %s://%s, which is not one of auth.base_urls; credentials are not sent there (add the host to base_urls if it is the same API)", where, u.Scheme, u.Host)
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func keys(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	if len(ks) > 8 {
		ks = append(ks[:8], "…")
	}
	if len(ks) == 0 {
		return "none"
	}
	return strings.Join(sorted(ks), ", ")
}

// errStatus is an HTTP answer other than 200.
type errStatus struct {
	code int
	msg  string
}

func (e *errStatus) Error() string { return e.msg }

// IsStatus reports whether err is an HTTP status error with code from the HR API.
func IsStatus(err error, code int) bool {
	var es *errStatus
	return errors.As(err, &es) && es.code == code
}
