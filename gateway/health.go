package gateway

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/health"
)

// Subscriber states in /readyz.
const (
	subConnecting = "connecting" // no broker connection yet
	subStarting   = "starting"   // connected; finding or creating the durable consumer
	subConsuming  = "consuming"  // pulling and applying messages
	subRetrying   = "retrying"   // the subscription failed (denied, stream missing, pull failed); retried with back-off
)

// subHealth is what a subscriber reports.
type subHealth struct {
	conn  atomic.Pointer[nats.Conn]
	state atomic.Pointer[string]
	// pending is the consumer's count of messages not delivered yet, as of the last message received; held is how
	// many messages the last pull handed back to wait for a retry. Together: how far the subscriber is behind.
	pending atomic.Uint64
	held    atomic.Int64
	track   health.Tracker // messages applied or failed
	setup   health.Tracker // subscription set-up and pulls
}

func (h *subHealth) set(state string) { h.state.Store(&state) }

// gwHealth is the part of a Gateway that /readyz reads.
type gwHealth struct {
	mu    sync.Mutex
	subs  []*subscriber
	conns []namedConn
	// endpoint is the outcome of the subscribers' endpoint calls: a failure the endpoint reported as unavailable
	// (or unknown) makes the gateway not ready until a message is applied again.
	endpoint health.Tracker
}

type namedConn struct {
	name string
	nc   *nats.Conn
}

// TrackConn adds a responder's or publisher's broker connection (package scimserver's) to /readyz.
func (g *Gateway) TrackConn(name string, nc *nats.Conn) {
	g.health.mu.Lock()
	defer g.health.mu.Unlock()
	g.health.conns = append(g.health.conns, namedConn{name, nc})
}

// Health is the /readyz check of the gateway: each stream subscriber (its broker connection and consumer), each
// responder or publisher connection, and the endpoint. Ready when every connection is up, every subscriber
// consumes, and the endpoint's last call did not fail as unavailable.
func (g *Gateway) Health() []health.Part {
	g.health.mu.Lock()
	subs := append([]*subscriber(nil), g.health.subs...)
	conns := append([]namedConn(nil), g.health.conns...)
	g.health.mu.Unlock()
	var parts []health.Part
	for _, s := range subs {
		p := health.Part{Kind: "subscriber", Name: s.entity, State: subConnecting, Detail: map[string]any{
			"tenant": s.cfg.NATS.Tenant, "subject": s.cfg.NATS.Subject, "durable": s.durable,
			"pending": s.health.pending.Load(), "held": s.health.held.Load()}}
		if st := s.health.state.Load(); st != nil {
			p.State = *st
		}
		s.health.track.Fill(&p)
		nc := s.health.conn.Load()
		connected := nc != nil && nc.IsConnected()
		p.Detail["connection"] = connState(nc)
		if p.State == subRetrying {
			var setup health.Part
			s.health.setup.Fill(&setup)
			p.LastError, p.LastErrorAt = setup.LastError, setup.LastErrorAt
		}
		p.Ready = connected && p.State == subConsuming
		parts = append(parts, p)
	}
	for _, c := range conns {
		parts = append(parts, health.Part{Kind: "nats", Name: c.name, State: connState(c.nc), Ready: c.nc.IsConnected()})
	}
	ep := health.Part{Kind: "endpoint", Name: g.Config.EndpointType(), State: "ok"}
	g.health.endpoint.Fill(&ep)
	ep.Ready = ep.Failures == 0
	if !ep.Ready {
		ep.State = "failing"
	}
	return append(parts, ep)
}

func connState(nc *nats.Conn) string {
	if nc == nil {
		return "none"
	}
	return strings.ToLower(nc.Status().String())
}

// noteEndpoint records the outcome of applying a message for the endpoint's part: errors that are the message's
// own fault (invalid, conflict) say nothing about the endpoint.
func (g *Gateway) noteEndpoint(err error) {
	switch {
	case err == nil:
		g.health.endpoint.Success(time.Now())
	case isPermanent(err) || errors.Is(err, endpoint.ErrInvalid) || errors.Is(err, endpoint.ErrConflict) || errors.Is(err, endpoint.ErrNotFound):
	default:
		g.health.endpoint.Failure(time.Now(), err)
	}
}
