// Package successfactors is an imitation of the SAP SuccessFactors OData API and its OAuth token endpoint,
// backed by a mutable in-memory company. It speaks the real protocol: OData v2 JSON ({"d":{"results":[...]}}
// with "__next" server-side paging by $skiptoken, /Date(ms)/ dates, __metadata, __deferred navigation),
// $filter/$expand/$select/$top/$skip/customPageSize, /oauth/token with the SAML 2.0 bearer grant (signature
// checked with goxmldsig against the client's registered certificate) and client credentials, basic and bearer
// auth, and throttling (429/503 with Retry-After). For HR systems that are not SuccessFactors it also serves the
// same people as OData v4 (@odata.nextLink) and as a plain root JSON array.
//
// Routes: /oauth/token, /odata/v2/PerPerson, /odata/v4/PerPerson, /api/people.
// Tests and `scim-stream demo` script the company through Company's methods.
package successfactors

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// DefaultPageSize is SuccessFactors' server-side page size (also its maximum customPageSize).
const DefaultPageSize = 1000

// Stats counts what the server did.
type Stats struct {
	Requests     int // API requests (not token requests), including refused ones
	TokensIssued int
	Failures     int // injected failures served
}

// Request is one served API request, for tests to inspect.
type Request struct {
	Method string
	URL    string // path and query
	Caller string // "bearer client=…", "basic user=…", "anonymous", …
	Status int
}

type failure struct {
	status     int
	retryAfter time.Duration
}

// Server is the HTTP handler. The zero value is not usable; use New.
type Server struct {
	Company *Company

	mu        sync.Mutex
	now       func() time.Time
	pageSize  int
	tokenTTL  time.Duration
	latency   time.Duration
	clients   map[string]string
	saml      map[string]*SAMLClient
	basic     map[string]string
	static    map[string]bool
	headers   map[string]string
	anonymous bool
	tokens    map[string]token
	failures  []failure
	stats     Stats
	requests  []Request
	cache     pageCache
	faults    Faults
}

// New serves c. The server's clock is c's clock.
func New(c *Company) *Server {
	return &Server{Company: c, now: c.now, pageSize: DefaultPageSize, tokenTTL: 24 * time.Hour,
		clients: map[string]string{}, saml: map[string]*SAMLClient{}, basic: map[string]string{},
		static: map[string]bool{}, headers: map[string]string{}, tokens: map[string]token{}}
}

// NewSample is a server over NewSampleCompany(n) on the wall clock, for the demo.
func NewSample(n int) *Server { return New(NewSampleCompany(n, nil)) }

// Start serves on a TLS httptest server; use its Client() to trust it.
func (s *Server) Start() *httptest.Server { return httptest.NewTLSServer(s) }

// AddClient registers a client-credentials OAuth client.
func (s *Server) AddClient(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = secret
}

// AddSAMLClient registers an OAuth client for the SAML 2.0 bearer grant.
func (s *Server) AddSAMLClient(c SAMLClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saml[c.ClientID] = &c
}

// AddBasicUser allows basic auth with user and password.
func (s *Server) AddBasicUser(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.basic[user] = password
}

// AddBearerToken allows a static bearer token (an API key issued out of band).
func (s *Server) AddBearerToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.static[tok] = true
}

// RequireHeader makes every API request carry header name with value.
func (s *Server) RequireHeader(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers[name] = value
}

// AllowAnonymous lets API requests without credentials through (required headers still apply).
func (s *Server) AllowAnonymous() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anonymous = true
}

// SetTokenTTL sets the lifetime of issued access tokens (default 24h, as SuccessFactors).
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenTTL = d
}

// ExpireTokens revokes every issued access token, as after a token lifetime or a password change.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]token{}
}

// SetPageSize sets the server-side page size used when the request has no customPageSize.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// SetLatency delays every response by d.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Fail answers the next n API requests with status (e.g. 429, 500, 503), with a Retry-After header in whole
// seconds when retryAfter > 0.
func (s *Server) Fail(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{status: status, retryAfter: retryAfter})
	}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// IssuedTokens returns the access tokens currently valid, for tests that check they never leak.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

// Requests returns the API requests served so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// odataError writes SuccessFactors' OData v2 error body.
func odataError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code,
		"message": map[string]any{"lang": "en-US", "value": msg}}})
}

// odataMessage is the text of an OData error body, worded and capitalized as SuccessFactors words it (not a Go
// error message to be wrapped).
type odataMessage string

func (m odataMessage) Error() string { return string(m) }

// badRequest is the message of a COE_GENERAL_BAD_REQUEST answer.
func badRequest(format string, args ...any) error { return odataMessage(fmt.Sprintf(format, args...)) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	lat := s.latency
	s.mu.Unlock()
	if lat > 0 {
		select {
		case <-time.After(lat):
		case <-r.Context().Done():
			return
		}
	}
	if r.URL.Path == "/oauth/token" {
		s.token(w, r)
		return
	}
	var d Dialect
	switch r.URL.Path {
	case "/odata/v2/PerPerson":
		d = ODataV2
	case "/odata/v4/PerPerson":
		d = ODataV4
	case "/api/people":
		d = Plain
	default:
		odataError(w, http.StatusNotFound, "COE_RESOURCE_NOT_FOUND", fmt.Sprintf("Resource not found for the segment '%s'", r.URL.Path))
		return
	}
	s.api(w, r, d)
}

// api serves a people request and records it.
func (s *Server) api(w http.ResponseWriter, r *http.Request, d Dialect) (status int) {
	caller, ok := s.authorize(r)
	defer func() {
		s.mu.Lock()
		s.stats.Requests++
		s.requests = append(s.requests, Request{Method: r.Method, URL: r.URL.RequestURI(), Caller: caller, Status: status})
		s.mu.Unlock()
	}()
	s.mu.Lock()
	var f *failure
	if len(s.failures) > 0 {
		f = &s.failures[0]
		s.failures = s.failures[1:]
		s.stats.Failures++
	}
	s.mu.Unlock()
	if f != nil {
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.retryAfter+time.Second-1)/time.Second)))
		}
		odataError(w, f.status, "COE_GENERAL_SERVER_FAILURE", http.StatusText(f.status))
		return f.status
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="SuccessFactors"`)
		odataError(w, http.StatusUnauthorized, "COE_AUTHENTICATION_FAILED", "Authentication failed: "+caller)
		return http.StatusUnauthorized
	}
	if r.Method != http.MethodGet {
		odataError(w, http.StatusMethodNotAllowed, "COE_METHOD_NOT_ALLOWED", "only GET is served")
		return http.StatusMethodNotAllowed
	}
	body, err := s.page(r, d)
	if err != nil {
		odataError(w, http.StatusBadRequest, "COE_GENERAL_BAD_REQUEST", err.Error())
		return http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return http.StatusOK
}

// baseURL is the service root as the client reached it, for absolute __metadata and __next links.
func baseURL(r *http.Request, d Dialect) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	root := "/odata/v2"
	if d == ODataV4 {
		root = "/odata/v4"
	}
	return scheme + "://" + r.Host + root
}

// query is a parsed request; key identifies its rendered result in the cache.
type query struct {
	filter      filter
	expand, sel *tree
	skip, top   int
	token, size int
	count       bool
	key         string
}

func (s *Server) parse(r *http.Request, d Dialect) (query, error) {
	q := r.URL.Query()
	var out query
	var err error
	for _, k := range []string{"$skip", "$top", "$skiptoken", "customPageSize"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			return out, badRequest("Invalid value for %s: %q", k, v)
		}
		switch k {
		case "$skip":
			out.skip = n
		case "$top":
			out.top = n
		case "$skiptoken":
			out.token = n
		case "customPageSize":
			if n == 0 || n > DefaultPageSize {
				return out, fmt.Errorf("customPageSize must be between 1 and %d", DefaultPageSize)
			}
			out.size = n
		}
	}
	if !q.Has("$top") {
		out.top = -1
	}
	if f := q.Get("$format"); f != "" && f != "json" {
		return out, fmt.Errorf("$format %q is not supported; use json", f)
	}
	if out.filter, err = parseFilter(q.Get("$filter")); err != nil {
		return out, err
	}
	out.expand = parseTree(q.Get("$expand"))
	if err := validateExpand(out.expand, "PerPerson", ""); err != nil {
		return out, err
	}
	out.sel = parseTree(q.Get("$select"))
	out.count = q.Get("$count") == "true" || q.Get("$inlinecount") == "allpages"
	out.key = fmt.Sprintf("%d|%s|%s|%s|%s", d, q.Get("$filter"), q.Get("$expand"), q.Get("$select"), r.Host)
	return out, nil
}

// pageCache keeps the encoded entities of the last query, so paging through a large company renders it once.
type pageCache struct {
	version uint64
	key     string
	items   [][]byte
}

func (s *Server) items(r *http.Request, d Dialect, q query) ([][]byte, error) {
	c := s.Company
	c.mu.Lock()
	version := c.version
	c.mu.Unlock()
	s.mu.Lock()
	if s.cache.items != nil && s.cache.version == version && s.cache.key == q.key {
		items := s.cache.items
		s.mu.Unlock()
		return items, nil
	}
	s.mu.Unlock()
	today := day(c.now())
	base := baseURL(r, d)
	var items [][]byte
	for _, p := range c.snapshot() {
		var v any
		if d == Plain {
			if len(q.filter) > 0 {
				return nil, fmt.Errorf("$filter is not supported by /api/people")
			}
			v = plain(&p, today)
		} else {
			e := model(&p, today)
			if !q.filter.match(e) {
				continue
			}
			v = render(e, d, base, q.expand, q.sel)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		items = append(items, b)
	}
	if items == nil {
		items = [][]byte{}
	}
	s.mu.Lock()
	s.cache = pageCache{version: version, key: q.key, items: items}
	s.mu.Unlock()
	return items, nil
}

// page renders one page of the request in its dialect.
func (s *Server) page(r *http.Request, d Dialect) ([]byte, error) {
	q, err := s.parse(r, d)
	if err != nil {
		return nil, err
	}
	items, err := s.items(r, d, q)
	if err != nil {
		return nil, err
	}
	f := s.currentFaults()
	items = f.faulty(items, d)
	total := len(items)
	end := total
	if q.top >= 0 {
		end = min(total, q.skip+q.top)
	}
	start := min(q.skip+q.token, end)
	if d == Plain {
		return join(nil, items[start:end], "[", "]"), nil
	}
	s.mu.Lock()
	size := s.pageSize
	s.mu.Unlock()
	if q.size > 0 {
		size = q.size
	}
	stop := min(start+size, end)
	if f.SingleRecord {
		stop = min(start+1, end)
	}
	// The page number of this request: its offset in pages of this size.
	cut := f.SingleRecord || (f.CutAfterPages > 0 && (start-q.skip)/max(size, 1)+1 >= f.CutAfterPages)
	total += f.CountDelta
	next := ""
	if stop < end && !cut {
		u := *r.URL
		v := u.Query()
		v.Set("$skiptoken", strconv.Itoa(q.token+stop-start))
		u.RawQuery = v.Encode()
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		next = scheme + "://" + r.Host + u.RequestURI()
	}
	var b []byte
	switch d {
	case ODataV2:
		b = append(b, `{"d":{`...)
		if q.count {
			b = append(b, `"__count":"`+strconv.Itoa(total)+`",`...)
		}
		b = join(append(b, `"results":`...), items[start:stop], "[", "]")
		if next != "" {
			nb, _ := json.Marshal(next)
			b = append(append(b, `,"__next":`...), nb...)
		}
		b = append(b, "}}"...)
	default:
		ctx, _ := json.Marshal(baseURL(r, d) + "/$metadata#PerPerson")
		b = append(append(b, `{"@odata.context":`...), ctx...)
		if q.count {
			b = append(b, `,"@odata.count":`+strconv.Itoa(total)...)
		}
		b = join(append(b, `,"value":`...), items[start:stop], "[", "]")
		if next != "" {
			nb, _ := json.Marshal(next)
			b = append(append(b, `,"@odata.nextLink":`...), nb...)
		}
		b = append(b, "}"...)
	}
	return b, nil
}

func join(b []byte, items [][]byte, open, close string) []byte {
	b = append(b, open...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, close...)
}
