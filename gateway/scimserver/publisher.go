package scimserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/wire"
)

// PublisherEntity is where a publisher relays the requests of one baseEntity: a NATS connection in the
// tenant's GW account and the channel subject GW.<channel>.
type PublisherEntity struct {
	Conn    *nats.Conn
	Subject string
}

// PublisherOptions configure NewPublisher.
type PublisherOptions struct {
	// Server is the HTTP front (auth, ipAllowList, body limit), as for NewServer; its Entities are unused.
	Server ServerOptions
	// Entities maps a baseEntity ("undefined" for requests without a prefix) to its channel.
	Entities map[string]PublisherEntity
	// Timeout is how long to wait for a responder's reply (default 30 s).
	Timeout time.Duration
	// NoResponderWait is how long a request waits for a responder to appear when none is subscribed (a
	// responder restarting), within Timeout; default 2 s, negative for none. Re-sending is safe then: the
	// broker delivered the request to no one.
	NoResponderWait time.Duration
}

// Publisher is the gateway in publisher mode: every admitted SCIM request becomes a NATS request on its
// entity's GW subject and the reply becomes the HTTP response. It never executes anything itself, so a
// request is executed once, by the one responder of the queue group that receives it; the publisher never
// retries (a retry after a lost reply could execute a create twice). Every failure reaches the HTTP client:
// 503 when no responder listens, 504 when none answered in time.
type Publisher struct {
	opts  PublisherOptions
	front *front
	slots *inFlight
}

// NewPublisher returns the publisher's HTTP handler.
func NewPublisher(opts PublisherOptions) *Publisher {
	opts.Server.defaults()
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultPublisherTimeout
	}
	if opts.NoResponderWait == 0 {
		opts.NoResponderWait = 2 * time.Second
	}
	return &Publisher{opts: opts, front: newFront(&opts.Server), slots: newInFlight(opts.Server.MaxInFlight)}
}

func (p *Publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.slots.acquire(w, p.opts.Server.Log) {
		return
	}
	defer p.slots.release()
	rt, _, ok := p.front.admit(w, r)
	if !ok {
		return
	}
	if rt.resource == resPing {
		servePing(w)
		return
	}
	key := rt.baseEntity
	if key == "" {
		key = undefinedEntity
	}
	ent, ok := p.opts.Entities[key]
	if !ok || ent.Conn == nil {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no publisher entity for baseEntity %q", key))
		return
	}
	var body []byte
	if r.Method != http.MethodGet && r.Method != http.MethodDelete && r.Method != http.MethodHead {
		if err := checkContentType(r); err != nil {
			e, _ := toSCIMError(err)
			writeError(w, e.Status, e.ScimType, e.Detail)
			return
		}
		b, err := io.ReadAll(r.Body)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit))
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalidSyntax", "the request body could not be read")
			return
		}
		body = b
	}
	msgID := uuid.NewString()
	payload, err := p.payload(r, rt, key, msgID, body)
	if err != nil {
		p.opts.Server.Log.Error("publisher: encode request", "err", err)
		writeError(w, http.StatusInternalServerError, "", "the request could not be relayed")
		return
	}
	// The broker refuses messages above its max_payload (1 MB by default); retrying cannot help, so say so.
	if mp := ent.Conn.MaxPayload(); mp > 0 && int64(len(payload)) > mp {
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the relayed request is %d bytes, more than the broker's max_payload of %d bytes: send less per request (e.g. fewer /Bulk operations)", len(payload), mp))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.opts.Timeout)
	defer cancel()
	resp, err := p.request(ctx, ent, msgID, payload)
	if err != nil {
		p.relayFailed(w, r, ent.Subject, msgID, err)
		return
	}
	p.writeReply(w, ent.Subject, msgID, resp.Data)
}

// request sends the request once; only while no responder is subscribed it sends it again, every 100 ms for up
// to NoResponderWait.
func (p *Publisher) request(ctx context.Context, ent PublisherEntity, msgID string, payload []byte) (*nats.Msg, error) {
	giveUp := time.Now().Add(p.opts.NoResponderWait)
	for {
		msg := nats.NewMsg(ent.Subject)
		msg.Header.Set(wire.MsgIDHeader, msgID)
		msg.Data = payload
		resp, err := ent.Conn.RequestMsgWithContext(ctx, msg)
		if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(giveUp) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *Publisher) payload(r *http.Request, rt route, baseEntity, msgID string, body []byte) ([]byte, error) {
	headers := map[string]any{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	headers["host"] = r.Host
	if _, ok := headers["x-forwarded-proto"]; !ok || !p.front.fromTrustedProxy(r) {
		if r.TLS != nil {
			headers["x-forwarded-proto"] = "https"
		} else {
			headers["x-forwarded-proto"] = "http"
		}
	}
	delete(headers, "content-length")
	// The publisher authenticated the client; the responder trusts the broker's permissions (only a gw_pub user
	// of this channel can send here), so the client's credential is not relayed at all. Sealing it with a key
	// from the same message (what the Node gateway does) would let any GW subscriber open it.
	delete(headers, "authorization")
	delete(headers, "cookie")
	delete(headers, "proxy-authorization")
	query := map[string]string{}
	for k, v := range r.URL.Query() {
		query[k] = strings.Join(v, ",")
	}
	var parsed any
	if len(body) > 0 {
		if json.Unmarshal(body, &parsed) != nil {
			parsed = string(body)
		}
	}
	return json.Marshal(relayRequest{
		Ctx: relayCtx{
			Request:  relayHTTP{Method: r.Method, URL: r.URL.RequestURI(), Headers: headers, Body: parsed},
			RouteObj: relayRoute{Method: r.Method, BaseEntity: baseEntity, Handle: strings.ToLower(rt.resource), ID: rt.id},
			Query:    query,
			Path:     r.URL.Path,
		},
		BaseEntity: baseEntity,
	})
}

func (p *Publisher) relayFailed(w http.ResponseWriter, r *http.Request, subject, msgID string, err error) {
	log := p.opts.Server.Log
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		log.Warn("publisher: no responder", "subject", subject, "msgId", msgID)
		writeError(w, http.StatusServiceUnavailable, "", fmt.Sprintf("no gateway is answering %s: start a responder gateway subscribed to it", subject))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		if r.Context().Err() != nil {
			log.Info("publisher: client went away", "subject", subject, "msgId", msgID)
			return
		}
		log.Warn("publisher: no reply in time", "subject", subject, "msgId", msgID, "timeout", p.opts.Timeout)
		writeError(w, http.StatusGatewayTimeout, "", fmt.Sprintf("no reply from %s within %s (Msg-Id %s): the request may or may not have been executed", subject, p.opts.Timeout, msgID))
	default:
		log.Error("publisher: relay failed", "subject", subject, "msgId", msgID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "", fmt.Sprintf("the stream connection for %s is unavailable, retry later", subject))
	}
}

// relayedHeaders are the response headers a reply may set.
var relayedHeaders = []string{"Content-Type", "ETag", "Location", "WWW-Authenticate"}

func (p *Publisher) writeReply(w http.ResponseWriter, subject, msgID string, data []byte) {
	var rep relayReply
	if err := json.Unmarshal(data, &rep); err != nil {
		p.opts.Server.Log.Error("publisher: reply is not JSON", "subject", subject, "msgId", msgID)
		writeError(w, http.StatusBadGateway, "", "the responder's reply is not JSON")
		return
	}
	if rep.Error != "" {
		p.opts.Server.Log.Warn("publisher: responder error", "subject", subject, "msgId", msgID, "error", rep.Error, "errName", rep.ErrName)
		writeError(w, http.StatusBadGateway, "", "the responder failed: "+rep.Error)
		return
	}
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 599 {
		writeError(w, http.StatusBadGateway, "", "the responder sent status "+strconv.Itoa(status))
		return
	}
	for k, v := range rep.Headers {
		for _, allowed := range relayedHeaders {
			if strings.EqualFold(k, allowed) {
				w.Header().Set(allowed, v)
			}
		}
	}
	var body []byte
	if len(rep.Body) > 0 && string(rep.Body) != "null" {
		var s string
		if json.Unmarshal(rep.Body, &s) == nil {
			body = []byte(s)
		} else {
			body = rep.Body
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", contentTypeSCIM)
		}
	}
	w.WriteHeader(status)
	w.Write(body)
}
