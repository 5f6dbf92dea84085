package scimserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// ResponderOptions tune a Responder.
type ResponderOptions struct {
	// Queue is the queue group; all responders of a subject must share it (default: the subject), so each
	// request is executed by exactly one of them.
	Queue string
	// Concurrency bounds the requests executed at once (default 64); more wait in the subscription.
	Concurrency int
	// Timeout bounds one execution (default 60 s, longer than a publisher's default wait).
	Timeout time.Duration
	Log     *slog.Logger
	// BaseEntity, when set, is the only base entity requests may target ("undefined": none): the entity whose
	// configuration names this GW subject. A publisher credential bound to the subject reaches nothing else.
	BaseEntity string
}

// Responder answers GW requests: a queue subscription on the entity's GW.<channel> subject whose requests are
// executed through h — normally the same *Server that serves the gateway's own HTTP port — and answered
// with the Node gateway's reply shape. Unlike the Node subscriber it has no request limit and never leaves a
// request unanswered: a request it cannot read gets an error reply.
type Responder struct {
	nc  *nats.Conn
	sub *nats.Subscription
	// roSub is the subscription to GW.$RO.<channel> (read-only requests), nil for a wildcard subject.
	roSub *nats.Subscription
	h     http.Handler
	opts  ResponderOptions
	sem   chan struct{}
	wg    sync.WaitGroup
}

// NewResponder subscribes to subject on nc and serves requests with h.
func NewResponder(nc *nats.Conn, subject string, h http.Handler, opts ResponderOptions) (*Responder, error) {
	if opts.Queue == "" {
		opts.Queue = subject
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 64
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	r := &Responder{nc: nc, h: h, opts: opts, sem: make(chan struct{}, opts.Concurrency)}
	sub, err := nc.QueueSubscribe(subject, opts.Queue, r.onMsg)
	if err != nil {
		return nil, fmt.Errorf("responder %s: subscribe: %w", subject, err)
	}
	// Requests wait in the subscription while all workers are busy; keep the client from dropping them as a
	// slow consumer under a burst.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("responder %s: %w", subject, err)
	}
	r.sub = sub
	// Read-only publishers may only send to GW.$RO.<channel> (broker permissions): answer there too, in the same
	// queue group, reads only. A wildcard subject (GW.>) already covers it.
	if !strings.ContainsAny(subject, "*>") {
		ro := natsauth.ReadOnlyPrefix + strings.TrimPrefix(subject, "GW.")
		if r.roSub, err = nc.QueueSubscribe(ro, opts.Queue, r.onMsg); err == nil {
			err = r.roSub.SetPendingLimits(-1, -1)
		}
		if err != nil {
			sub.Unsubscribe()
			return nil, fmt.Errorf("responder %s: subscribe %s: %w", subject, ro, err)
		}
	}
	return r, nil
}

// isRead is a request a read-only credential may make: GET, HEAD, or a POST …/.search.
func isRead(method, path string) bool {
	return method == http.MethodGet || method == http.MethodHead ||
		(method == http.MethodPost && strings.HasSuffix(path, "/.search"))
}

func (r *Responder) onMsg(m *nats.Msg) {
	r.sem <- struct{}{}
	r.wg.Add(1)
	go func() {
		defer func() { <-r.sem; r.wg.Done() }()
		reply := r.execute(m)
		data, err := json.Marshal(reply)
		if err != nil {
			data = []byte(`{"error":"reply could not be encoded","errName":"InternalError"}`)
		}
		if mp := r.nc.MaxPayload(); mp > 0 && int64(len(data)) > mp {
			data = r.tooLarge(m, reply, len(data), mp)
		}
		if m.Reply == "" {
			r.opts.Log.Warn("responder: request without a reply subject", "subject", m.Subject, "msgId", m.Header.Get(wire.MsgIDHeader))
			return
		}
		if err := m.Respond(data); err != nil {
			r.opts.Log.Error("responder: reply not sent", "subject", m.Subject, "msgId", m.Header.Get(wire.MsgIDHeader), "err", err)
		}
	}()
}

// tooLarge replaces a reply above the broker's max_payload, which could not be sent at all (the publisher would
// wait for its timeout and answer 504 for a request that was executed). A read becomes 400 tooMany telling the
// client to page; a change keeps its status and headers (Location, ETag) without the body, as 204 for a 200.
func (r *Responder) tooLarge(m *nats.Msg, reply relayReply, size int, max int64) []byte {
	r.opts.Log.Warn("responder: reply larger than the broker's max_payload; body dropped", "subject", m.Subject,
		"msgId", m.Header.Get(wire.MsgIDHeader), "bytes", size, "maxPayload", max)
	var req struct {
		Ctx struct {
			Request struct{ Method string } `json:"request"`
		} `json:"ctx"`
	}
	_ = json.Unmarshal(m.Data, &req)
	if strings.EqualFold(req.Ctx.Request.Method, http.MethodGet) {
		body, _ := json.Marshal(string(errorBody(http.StatusBadRequest, "tooMany", fmt.Sprintf(
			"the response is %d bytes, more than the broker's max_payload of %d: page with count and startIndex, or leave out large attributes (excludedAttributes=members)", size, max))))
		reply = relayReply{Headers: map[string]string{"Content-Type": contentTypeSCIM}, Status: http.StatusBadRequest, Body: body}
	} else {
		if reply.Status == http.StatusOK {
			reply.Status = http.StatusNoContent
		}
		delete(reply.Headers, "Content-Type")
		reply.Body = nil
	}
	data, _ := json.Marshal(reply)
	return data
}

func errorReply(name, format string, args ...any) relayReply {
	return relayReply{Error: fmt.Sprintf(format, args...), ErrName: name}
}

// execute turns the relayed request into an http.Request, serves it and captures the response.
func (r *Responder) execute(m *nats.Msg) relayReply {
	msgID := m.Header.Get(wire.MsgIDHeader)
	var req relayRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		r.opts.Log.Warn("responder: request is not JSON", "subject", m.Subject, "msgId", msgID)
		return errorReply("BadRequest", "request is not a JSON object: %v", err)
	}
	hr := req.Ctx.Request
	method := strings.ToUpper(hr.Method)
	if method == "" {
		method = strings.ToUpper(req.Ctx.RouteObj.Method)
	}
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return errorReply("BadRequest", "request method %q is not a SCIM method", hr.Method)
	}
	target := hr.URL
	if target == "" {
		target = req.Ctx.Path
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || !strings.HasPrefix(target, "/") || u.Host != "" {
		return errorReply("BadRequest", "request url %q is not a path", target)
	}
	// A publisher that sends the path without its /<baseEntity> prefix still names the entity.
	if be := req.BaseEntity; be != "" && be != undefinedEntity {
		if first, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); first != be {
			u.Path = "/" + be + u.Path
			u.RawPath = ""
		}
	}
	// Limits the subject carries hold whatever the payload says: the broker let the publisher send only there.
	if strings.HasPrefix(m.Subject, natsauth.ReadOnlyPrefix) && !isRead(method, u.Path) {
		r.opts.Log.Warn("responder: refused a change sent on a read-only subject", "subject", m.Subject, "msgId", msgID, "method", method)
		return relayReply{Status: http.StatusForbidden, Headers: map[string]string{"Content-Type": contentTypeSCIM},
			Body: scimErrorString(http.StatusForbidden, "the publisher of this request is read-only")}
	}
	if want := r.opts.BaseEntity; want != "" {
		got := undefinedEntity
		if rt, err := parseRoute(u.EscapedPath()); err == nil && rt.baseEntity != "" {
			got = rt.baseEntity
		}
		if got != want {
			r.opts.Log.Warn("responder: refused a request for another base entity", "subject", m.Subject, "msgId", msgID, "baseEntity", got, "allowed", want)
			return relayReply{Status: http.StatusForbidden, Headers: map[string]string{"Content-Type": contentTypeSCIM},
				Body: scimErrorString(http.StatusForbidden, "this subject serves base entity "+want+" only")}
		}
	}
	var body []byte
	switch b := hr.Body.(type) {
	case nil:
	case string:
		body = []byte(b)
	default:
		if body, err = json.Marshal(b); err != nil {
			return errorReply("BadRequest", "request body: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(withRelayed(context.Background()), r.opts.Timeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, method, u.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return errorReply("BadRequest", "request: %v", err)
	}
	for k, v := range hr.Headers {
		s, ok := v.(string)
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "authorization", "content-length", "connection", "transfer-encoding":
			// The publisher authenticated the client; the sealed credential is not needed here.
		case "host":
			httpReq.Host = s
		default:
			httpReq.Header.Set(k, s)
		}
	}
	httpReq.RemoteAddr = "nats:" + m.Subject
	rec := newMemResponse()
	r.h.ServeHTTP(rec, httpReq)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	headers := map[string]string{}
	for k, v := range rec.header {
		if len(v) > 0 {
			headers[k] = v[0]
		}
	}
	out := relayReply{Headers: headers, Status: status}
	if rec.body.Len() > 0 {
		out.Body, _ = json.Marshal(rec.body.String())
	}
	return out
}

// Stop stops taking requests and waits until those taken are answered or ctx ends: the other responders of
// the queue group take the rest, so a rolling restart loses nothing.
func (r *Responder) Stop(ctx context.Context) error {
	if r.roSub != nil {
		_ = r.roSub.Drain()
	}
	if err := r.sub.Drain(); err != nil && r.sub.IsValid() {
		return fmt.Errorf("responder %s: drain: %w", r.sub.Subject, err)
	}
	for r.sub.IsValid() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scimErrorString is a SCIM error as the reply body (a JSON string holding the SCIM JSON).
func scimErrorString(status int, detail string) json.RawMessage {
	b, _ := json.Marshal(string(errorBody(status, "", detail)))
	return b
}
