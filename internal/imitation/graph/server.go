package graph

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DeltaLifetime is how long Graph keeps the sync state behind a delta link for directory objects.
const DeltaLifetime = 7 * 24 * time.Hour

// Request is one request the server answered, for tests that assert timing (Retry-After honoured).
type Request struct {
	At     time.Time
	Method string
	Path   string
	Query  string
	Status int
	Client string // OAuth client id of the bearer token
}

// Server serves the tenant over HTTP: Graph under /v1.0/ and the identity platform (/{tenant}/oauth2/v2.0/token,
// /{tenant}/v2.0/.well-known/openid-configuration) everywhere else, so one TLS listener plays both hosts.
type Server struct {
	Tenant *Tenant
	// PageSize is the number of objects per page (Graph's default for users is 100; tests lower it).
	PageSize int

	mu          sync.Mutex
	clients     map[string]string // client id -> secret
	certs       map[string]*x509.Certificate
	federated   map[string]federated
	msiHeader   string
	tokens      map[string]issued
	gen         int
	throttle    int
	retryAfter  time.Duration
	limitPct    float64
	auditBudget int
	auditWindow []time.Time
	log         []Request
}

type issued struct {
	client  string
	expires time.Time
}

// NewServer returns a server for t with no registered clients.
func NewServer(t *Tenant) *Server {
	return &Server{Tenant: t, PageSize: 100, clients: map[string]string{}, tokens: map[string]issued{},
		certs: map[string]*x509.Certificate{}, federated: map[string]federated{}}
}

// Start serves s over HTTPS on a loopback port (httptest); the caller closes it. Its Client() trusts the
// server's certificate.
func (s *Server) Start() *httptest.Server {
	ts := httptest.NewUnstartedServer(s)
	// Clients that hang up while a test closes the server are normal here, not worth a log line.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	return ts
}

// AddClient registers an application (client id and secret) allowed to get tokens.
func (s *Server) AddClient(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = secret
}

// ExpireDeltaTokens invalidates every delta and skip token issued so far, as when Graph lost the sync state or a
// token outlived DeltaLifetime: the next use answers 410 Gone (resyncRequired).
func (s *Server) ExpireDeltaTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
}

// Throttle answers the next n Graph requests with 429 Too Many Requests and Retry-After.
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle, s.retryAfter = n, retryAfter
}

// SetLimitPercentage sets the x-ms-throttle-limit-percentage header on every Graph answer (0 omits it): Graph
// sends it when an application used more than 80% of its limit.
func (s *Server) SetLimitPercentage(p float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitPct = p
}

// SetAuditBudget limits directoryAudits to n requests per 10 seconds (Graph's is 5), answering 429 beyond.
func (s *Server) SetAuditBudget(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auditBudget = n
}

// Requests returns the log of answered requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: 200}
	client := ""
	if strings.HasPrefix(r.URL.Path, "/v1.0/") {
		client = s.graph(sw, r)
	} else {
		s.login(sw, r)
	}
	s.mu.Lock()
	s.log = append(s.log, Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: sw.status, Client: client})
	s.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func graphError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]any{"date": time.Now().UTC().Format(time.RFC3339), "request-id": NewID()}}})
}

func base(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host + "/v1.0"
}

// graph serves the Graph API; it returns the caller's client id.
func (s *Server) graph(w http.ResponseWriter, r *http.Request) string {
	s.mu.Lock()
	tok, ok := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !ok || time.Now().After(tok.expires) {
		s.mu.Unlock()
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty, invalid or expired.")
		return ""
	}
	if s.throttle > 0 {
		s.throttle--
		ra := s.retryAfter
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests.")
		return tok.client
	}
	if s.limitPct > 0 {
		w.Header().Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(s.limitPct, 'f', 2, 64))
	}
	gen, pageSize := s.gen, s.PageSize
	s.mu.Unlock()
	if r.Method != http.MethodGet {
		graphError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The imitation serves reads only.")
		return tok.client
	}
	q := r.URL.Query()
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1.0/"), "/"), "/")
	switch {
	case len(parts) == 2 && parts[1] == "delta" && (parts[0] == "users" || parts[0] == "groups"):
		s.delta(w, r, parts[0], q, gen, pageSize)
	case len(parts) == 3 && parts[0] == "directory" && parts[1] == "deletedItems" && parts[2] == "microsoft.graph.user":
		s.deletedUsers(w, r, q, pageSize)
	case len(parts) == 1 && parts[0] == "servicePrincipals":
		s.servicePrincipals(w, r, q, pageSize)
	case len(parts) == 3 && parts[0] == "servicePrincipals" && parts[2] == "appRoleAssignedTo":
		s.appRoleAssignedTo(w, r, parts[1], q, pageSize)
	case len(parts) == 2 && parts[0] == "auditLogs" && parts[1] == "directoryAudits":
		if !s.auditAllowed() {
			w.Header().Set("Retry-After", "10")
			graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests to the audit log API.")
			return tok.client
		}
		s.directoryAudits(w, r, q, pageSize)
	default:
		graphError(w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource not found for the segment '%s'.", parts[len(parts)-1]))
	}
	return tok.client
}

func (s *Server) auditAllowed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auditBudget <= 0 {
		return true
	}
	now := time.Now()
	kept := s.auditWindow[:0]
	for _, at := range s.auditWindow {
		if now.Sub(at) < 10*time.Second {
			kept = append(kept, at)
		}
	}
	s.auditWindow = kept
	if len(kept) >= s.auditBudget {
		return false
	}
	s.auditWindow = append(s.auditWindow, now)
	return true
}

// userProperties are the v1.0 user properties the imitation lets $select; anything else is a 400 as in Graph.
var userProperties = map[string]bool{}

func init() {
	for _, p := range strings.Fields(`id accountEnabled ageGroup businessPhones city companyName country createdDateTime
		department displayName employeeHireDate employeeLeaveDateTime employeeId employeeOrgData employeeType
		externalUserState faxNumber givenName identities imAddresses jobTitle mail mailNickname manager mobilePhone
		officeLocation onPremisesDistinguishedName onPremisesImmutableId onPremisesSamAccountName
		onPremisesSyncEnabled onPremisesUserPrincipalName otherMails postalCode preferredLanguage proxyAddresses
		state streetAddress surname usageLocation userPrincipalName userType`) {
		userProperties[p] = true
	}
}

var groupProperties = map[string]bool{"id": true, "displayName": true, "description": true, "mailNickname": true,
	"mail": true, "mailEnabled": true, "securityEnabled": true, "members": true}

func (s *Server) delta(w http.ResponseWriter, r *http.Request, kind string, q url.Values, gen, pageSize int) {
	var st syncState
	tok := q.Get("$skiptoken")
	if tok == "" {
		tok = q.Get("$deltatoken")
	}
	t := s.Tenant
	if tok != "" {
		var ok bool
		st, ok = decodeState(tok)
		if !ok || st.Kind != kind {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "The delta token or skip token is malformed.")
			return
		}
		t.mu.Lock()
		now := t.now()
		t.mu.Unlock()
		if st.Gen != gen || now.Sub(time.Unix(st.Issued, 0)) > DeltaLifetime {
			graphError(w, http.StatusGone, "resyncRequired", "The sync state generation is not found; the delta token is expired and the data must be synchronized again.")
			return
		}
	} else {
		props := userProperties
		if kind == "groups" {
			props = groupProperties
		}
		sel := strings.Split(q.Get("$select"), ",")
		if q.Get("$select") == "" {
			sel = []string{"displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "businessPhones"}
			if kind == "groups" {
				sel = []string{"displayName", "description", "members"}
			}
		}
		for _, p := range sel {
			if !props[p] {
				graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, strings.TrimSuffix(kind, "s")))
				return
			}
		}
		t.mu.Lock()
		st = syncState{Kind: kind, Select: sel, Gen: gen, Issued: t.now().Unix()}
		t.mu.Unlock()
	}
	t.mu.Lock()
	if st.Upto == 0 {
		st.Upto = t.seq
	}
	var items []map[string]any
	var next *syncState
	if kind == "users" {
		items, next = t.usersPage(st, pageSize)
	} else {
		items, next = t.groupsPage(st, pageSize)
	}
	issuedAt := t.now().Unix()
	t.mu.Unlock()
	out := map[string]any{"@odata.context": base(r) + "/$metadata#" + kind, "value": items}
	if items == nil {
		out["value"] = []any{}
	}
	if next != nil {
		out["@odata.nextLink"] = base(r) + "/" + kind + "/delta?$skiptoken=" + next.encode()
	} else {
		// The next round sees changes after this round's start; its token is fresh for another DeltaLifetime.
		d := syncState{Kind: kind, Since: st.Upto, Select: st.Select, Gen: st.Gen, Issued: issuedAt}
		out["@odata.deltaLink"] = base(r) + "/" + kind + "/delta?$deltatoken=" + d.encode()
	}
	writeJSON(w, http.StatusOK, out)
}

// page slices a collection by $skiptoken (an offset here) and writes it with a nextLink.
func page(w http.ResponseWriter, r *http.Request, items []any, q url.Values, pageSize int) {
	if top, err := strconv.Atoi(q.Get("$top")); err == nil && top > 0 {
		pageSize = top
	}
	off, _ := strconv.Atoi(q.Get("$skiptoken"))
	if off > len(items) {
		off = len(items)
	}
	end := min(off+pageSize, len(items))
	out := map[string]any{"value": append([]any{}, items[off:end]...)}
	if end < len(items) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skiptoken", strconv.Itoa(end))
		out["@odata.nextLink"] = base(r) + strings.TrimPrefix(r.URL.Path, "/v1.0") + "?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

// deletedUsers lists the recycle bin (soft-deleted users), which a fresh users/delta leaves out.
func (s *Server) deletedUsers(w http.ResponseWriter, r *http.Request, q url.Values, pageSize int) {
	sel := strings.Split(q.Get("$select"), ",")
	t := s.Tenant
	t.mu.Lock()
	var items []any
	for _, id := range t.userIDs {
		u := t.users[id]
		if u.state != softDeleted {
			continue
		}
		o := map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.id, "deletedDateTime": t.now().UTC().Format(time.RFC3339)}
		for _, p := range sel {
			if v, ok := u.props[p]; ok && p != "manager" {
				o[p] = v
			}
		}
		items = append(items, o)
	}
	t.mu.Unlock()
	page(w, r, items, q, pageSize)
}

func (s *Server) servicePrincipals(w http.ResponseWriter, r *http.Request, q url.Values, pageSize int) {
	t := s.Tenant
	t.mu.Lock()
	var items []any
	for _, id := range t.spIDs {
		sp := t.sps[id]
		roles := make([]any, 0, len(sp.roles))
		for _, ar := range sp.roles {
			roles = append(roles, map[string]any{"id": ar.ID, "displayName": ar.DisplayName, "value": ar.Value,
				"description": ar.Description, "isEnabled": true, "allowedMemberTypes": []string{"User"}})
		}
		items = append(items, map[string]any{"id": sp.id, "appId": sp.appID, "displayName": sp.displayName, "appRoles": roles})
	}
	t.mu.Unlock()
	page(w, r, items, q, pageSize)
}

func (s *Server) appRoleAssignedTo(w http.ResponseWriter, r *http.Request, spID string, q url.Values, pageSize int) {
	t := s.Tenant
	t.mu.Lock()
	sp := t.sps[spID]
	if sp == nil {
		t.mu.Unlock()
		graphError(w, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", spID))
		return
	}
	var list []*assignment
	for _, a := range t.assignments {
		if a.spID == spID {
			list = append(list, a)
		}
	}
	slices.SortFunc(list, func(a, b *assignment) int { return strings.Compare(a.id, b.id) })
	items := make([]any, 0, len(list))
	for _, a := range list {
		typ, name := "User", ""
		if a.group {
			typ = "Group"
			if g := t.groups[a.principalID]; g != nil {
				name, _ = g.props["displayName"].(string)
			}
		} else if u := t.users[a.principalID]; u != nil {
			name, _ = u.props["displayName"].(string)
		}
		items = append(items, map[string]any{"id": a.id, "appRoleId": a.roleID, "principalId": a.principalID,
			"principalType": typ, "principalDisplayName": name, "resourceId": sp.id, "resourceDisplayName": sp.displayName,
			"createdDateTime": a.created.Format(time.RFC3339)})
	}
	t.mu.Unlock()
	page(w, r, items, q, pageSize)
}

// directoryAudits supports the filter the collector and most tools use: activityDateTime ge <instant>
// (optionally "and activityDateTime le <instant>"); rows come newest first, as in Graph.
func (s *Server) directoryAudits(w http.ResponseWriter, r *http.Request, q url.Values, pageSize int) {
	var ge, le time.Time
	if f := strings.TrimSpace(q.Get("$filter")); f != "" {
		for _, clause := range strings.Split(f, " and ") {
			fs := strings.Fields(clause)
			if len(fs) != 3 || fs[0] != "activityDateTime" || (fs[1] != "ge" && fs[1] != "le") {
				graphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Unsupported filter clause %q.", clause))
				return
			}
			at, err := time.Parse(time.RFC3339Nano, fs[2])
			if err != nil {
				graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid DateTimeOffset %q.", fs[2]))
				return
			}
			if fs[1] == "ge" {
				ge = at
			} else {
				le = at
			}
		}
	}
	t := s.Tenant
	t.mu.Lock()
	now := t.now()
	var rows []audit
	for i := len(t.audits) - 1; i >= 0; i-- {
		a := t.audits[i]
		if now.Before(a.at.Add(t.auditDelay)) || (!ge.IsZero() && a.at.Before(ge)) || (!le.IsZero() && a.at.After(le)) {
			continue
		}
		rows = append(rows, a)
	}
	t.mu.Unlock()
	// Only the requested page is rendered: the log of a busy tenant is long.
	if top, err := strconv.Atoi(q.Get("$top")); err == nil && top > 0 {
		pageSize = top
	}
	off, _ := strconv.Atoi(q.Get("$skiptoken"))
	off = min(off, len(rows))
	end := min(off+pageSize, len(rows))
	items := make([]any, 0, end-off)
	for _, a := range rows[off:end] {
		var by map[string]any
		if a.by.ID != "" {
			by = map[string]any{"user": map[string]any{"id": a.by.ID, "userPrincipalName": a.by.UPN, "displayName": a.by.DisplayName}, "app": nil}
		} else {
			by = map[string]any{"user": nil, "app": map[string]any{"displayName": "Microsoft Entra ID", "appId": nil, "servicePrincipalId": nil}}
		}
		targets := make([]any, 0, len(a.targets))
		for _, tr := range a.targets {
			targets = append(targets, map[string]any{"id": tr.id, "type": tr.typ, "userPrincipalName": nullable(tr.upn), "displayName": nullable(tr.displayName), "modifiedProperties": []any{}})
		}
		items = append(items, map[string]any{"id": a.id, "category": a.category, "activityDisplayName": a.activity,
			"activityDateTime": a.at.Format(time.RFC3339Nano), "result": "success", "loggedByService": "Core Directory",
			"operationType": "Update", "initiatedBy": by, "targetResources": targets})
	}
	out := map[string]any{"@odata.context": base(r) + "/$metadata#auditLogs/directoryAudits", "value": items}
	if end < len(rows) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skiptoken", strconv.Itoa(end))
		out["@odata.nextLink"] = base(r) + "/auditLogs/directoryAudits?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
