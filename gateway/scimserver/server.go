// Package scimserver is the bundled gateway's SCIM side: a SCIM 2.0 HTTP server over an endpoint (users, groups,
// bulk, discovery, AppRoles), the publisher that relays HTTP SCIM requests over NATS to GW.<channel>, and the
// responder that answers such requests inside the firewall. Run starts what a gateway configuration enables.
package scimserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
)

// ServerOptions configure the SCIM HTTP front (NewServer and NewPublisher share it).
type ServerOptions struct {
	// Auth lists the accepted credentials; with none configured every request is accepted, which is what a
	// responder wants (the NATS account is its boundary) and what a listening server must never use: the
	// configuration loader refuses a port without auth.
	Auth Auth
	// IPAllowList restricts clients to these networks (empty: everyone). TrustedProxies are the front-end
	// proxies whose X-Forwarded-For header names the real client; the header is ignored from anyone else.
	IPAllowList    []netip.Prefix
	TrustedProxies []netip.Prefix
	// MaxBodyBytes limits request bodies (default 1 MiB): larger requests get 413 before they are read.
	MaxBodyBytes int64
	// Entities are the endpoints served under a path prefix /<baseEntity>/… for multi-tenant endpoints. The
	// endpoint given to NewServer serves the paths without a prefix.
	Entities map[string]endpoint.Endpoint
	// Tenant names the deployment in the AppRoles ids (UUIDv5 of tenant, baseEntity and group id), so the same
	// group keeps its app role id across runs and machines.
	Tenant string
	Log    *slog.Logger
	// MaxInFlight bounds the requests served at once (default DefaultMaxInFlight); beyond it a request gets 429
	// with Retry-After at once instead of queueing memory and time. Negative: no bound.
	MaxInFlight int
}

// DefaultMaxInFlight is ServerOptions.MaxInFlight when 0: enough to keep an endpoint busy, few enough that
// requests in work cannot hold more than a few hundred MB.
const DefaultMaxInFlight = 64

// DefaultMaxBodyBytes is the request body limit when ServerOptions.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// maxBulkOperations is advertised in ServiceProviderConfig and enforced on /Bulk.
const maxBulkOperations = 1000

// maxResults caps a list response (ServiceProviderConfig filter.maxResults).
const maxResults = 10000

func (o *ServerOptions) defaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
}

// Server is the SCIM 2.0 service provider over an Endpoint (RFC 7643/7644).
type Server struct {
	ep    endpoint.Endpoint
	opts  ServerOptions
	front *front
	slots *inFlight
}

// NewServer returns the SCIM 2.0 HTTP handler over ep: /Users, /Groups (list with filter, paging, attributes,
// sorting; get, POST, PUT, PATCH, DELETE), /Bulk, /ServiceProviderConfig, /Schemas, /ResourceTypes, /AppRoles
// and /ping, each also under /<baseEntity>/ for the endpoints in opts.Entities.
func NewServer(ep endpoint.Endpoint, opts ServerOptions) *Server {
	opts.defaults()
	return &Server{ep: ep, opts: opts, front: newFront(&opts), slots: newInFlight(opts.MaxInFlight)}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.slots.acquire(w, s.opts.Log) {
		return
	}
	defer s.slots.release()
	rt, id, ok := s.front.admit(w, r)
	if !ok {
		return
	}
	if rt.resource == resPing {
		servePing(w)
		return
	}
	s.serve(w, r, rt, id)
}

func servePing(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("hello"))
}

// endpointFor returns the endpoint that serves a baseEntity.
func (s *Server) endpointFor(baseEntity string) (endpoint.Endpoint, error) {
	if baseEntity == "" {
		if s.ep == nil {
			return nil, newError(http.StatusNotFound, "", "this gateway serves only base entities: use /<baseEntity>/Users")
		}
		return s.ep, nil
	}
	if ep := s.opts.Entities[baseEntity]; ep != nil {
		return ep, nil
	}
	return nil, newError(http.StatusNotFound, "", fmt.Sprintf("unknown baseEntity %q", baseEntity))
}

// serve runs one admitted SCIM request; the responder and /Bulk call it too, so every way in executes the
// same code.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt route, who *identity) {
	ep, err := s.endpointFor(rt.baseEntity)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := &request{s: s, w: w, r: r, rt: rt, ep: ep, ctx: r.Context(), who: who}
	switch rt.resource {
	case resUsers, resGroups:
		err = h.resource()
	case resServiceProviderConfig:
		err = h.onlyGET(func() error { return h.writeJSON(http.StatusOK, s.serviceProviderConfig(r), "") })
	case resSchemas:
		err = h.onlyGET(h.schemas)
	case resResourceTypes:
		err = h.onlyGET(h.resourceTypes)
	case resBulk:
		err = h.bulk()
	case resAppRoles:
		err = h.onlyGET(h.appRoles)
	default:
		err = newError(http.StatusNotFound, "", "unknown resource")
	}
	if err != nil {
		s.fail(w, r, err)
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := toSCIMError(err)
	if internal {
		s.opts.Log.Error("scim request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.opts.Log.Debug("scim request refused", "method", r.Method, "path", r.URL.Path, "status", e.Status, "err", err)
	}
	writeError(w, e.Status, e.ScimType, e.Detail)
}

// request is one SCIM request being served.
type request struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	rt  route
	ep  endpoint.Endpoint
	ctx context.Context
	who *identity
}

func (h *request) onlyGET(f func() error) error {
	if h.r.Method != http.MethodGet {
		return newError(http.StatusMethodNotAllowed, "", h.r.Method+" is not supported here: use GET")
	}
	return f()
}

func (h *request) writeJSON(status int, v any, etag string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	hd := h.w.Header()
	hd.Set("Content-Type", contentTypeSCIM)
	if etag != "" {
		hd.Set("ETag", etag)
	}
	h.w.WriteHeader(status)
	_, err = h.w.Write(b)
	if err != nil {
		h.s.opts.Log.Debug("scim response not delivered", "err", err)
	}
	return nil
}

// readObject reads the request body as one JSON object.
func (h *request) readObject() (map[string]any, error) {
	b, err := h.readBody()
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, newError(http.StatusBadRequest, "invalidSyntax", "the request body is not a JSON object")
	}
	if dec.More() {
		return nil, newError(http.StatusBadRequest, "invalidSyntax", "the request body has data after the JSON object")
	}
	return obj, nil
}

func (h *request) readBody() ([]byte, error) {
	if err := checkContentType(h.r); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(h.r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, newError(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit))
	}
	if err != nil {
		return nil, newError(http.StatusBadRequest, "invalidSyntax", "the request body could not be read")
	}
	return b, nil
}

// checkContentType accepts SCIM's and plain JSON media types; no Content-Type is accepted as JSON (curl -d
// sends a form type, which is refused so that a mistaken client gets a clear answer).
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/scim+json" || mt == "application/json") {
		return nil
	}
	return newError(http.StatusUnsupportedMediaType, "invalidSyntax",
		fmt.Sprintf("Content-Type %q is not supported: send application/scim+json", ct))
}

// etagOf is the resource's version: meta.version when the endpoint keeps one (and useVersion), else a hash of
// its content. Groups always use the hash: endpoints keep memberships apart and may not bump the group's version
// when only its members change.
func etagOf(res map[string]any, useVersion bool) string {
	if m, ok := res["meta"].(map[string]any); ok && useVersion {
		if v, ok := m["version"].(string); ok && v != "" {
			return v
		}
	}
	b, _ := json.Marshal(res)
	sum := sha256.Sum256(b)
	return `W/"` + hex.EncodeToString(sum[:8]) + `"`
}

// baseURL is the scheme://host[/baseEntity] the client used, for meta.location.
func (h *request) baseURL() string {
	scheme := "http"
	if h.r.TLS != nil {
		scheme = "https"
	}
	if p := h.r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		if h.s.front.fromTrustedProxy(h.r) {
			scheme = p
		}
	}
	host := h.r.Host
	if host == "" {
		host = "localhost"
	}
	u := scheme + "://" + host
	if h.rt.baseEntity != "" {
		u += "/" + url.PathEscape(h.rt.baseEntity)
	}
	return u
}
