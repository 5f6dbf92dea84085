// Package gateway is the bundled SCIM gateway: it reads a gateway configuration (the Node SCIM Gateway's plugin
// file, or the same keys in YAML), opens the configured endpoint and runs a stream subscriber per ENTRA/HR entity
// that applies the channel's messages to it. The SCIM side (HTTP server, publisher, GW responders) is package
// scimserver, started as a Runner; the endpoints implement package endpoint.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/wire"
)

// Gateway is a running bundled gateway: its configuration, its open endpoint, and the parts that use them (the
// stream subscribers here; the SCIM HTTP server and GW responders, package scimserver, attach as a runner).
type Gateway struct {
	Config   *Config
	Endpoint endpoint.Endpoint
	Log      *slog.Logger
	// OnEvent, when set before Run, is called after each stream message was handled (from the entity's
	// goroutine; entities run concurrently). The demo prints "user provisioned" lines from it.
	OnEvent func(Event)
	// RetryMin and RetryMax bound the nak back-off after an endpoint failure (doubling per delivery).
	RetryMin, RetryMax time.Duration
	// Metrics, when set before Run, records messages and SCIM requests (see NewMetrics).
	Metrics *Metrics

	runners map[string]Runner
	health  gwHealth
}

// Event is one handled stream message.
type Event struct {
	Time      time.Time
	Entity    string // the subscriber entity (baseEntity) key
	Subject   string // the message's subject, e.g. HR.SF
	Seq       uint64 // stream sequence
	MsgID     string // the Msg-Id header
	Operation string // activityOperation
	Result
	// Err is set for ActionRetrying and ActionTerminated.
	Err error
}

// Runner is a part of the gateway started by Run next to the subscribers, e.g. the SCIM HTTP server (which
// returns nil at once when scimgateway.port is 0). It runs until ctx is cancelled.
type Runner func(ctx context.Context, g *Gateway) error

// Options are what a gateway is built from besides its configuration. The command fills them: the endpoint types
// the configuration may select and the parts to run, each listed explicitly.
type Options struct {
	// Endpoints are the endpoint types `endpoint.type` may name.
	Endpoints endpoint.Factories
	// Runners are started by Run next to the subscribers, by name (the name is in their errors).
	Runners map[string]Runner
	// Log is the gateway's logger; nil discards.
	Log *slog.Logger
}

// Open opens the configured endpoint and returns a gateway ready to Run.
func Open(ctx context.Context, cfg *Config, opts Options) (*Gateway, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ep, err := opts.Endpoints.Open(ctx, cfg.EndpointType(), cfg.Endpoint.Node, endpoint.Env{Dir: cfg.Dir, Name: cfg.Name, Log: log})
	if err != nil {
		return nil, fmt.Errorf("gateway %s: endpoint %s: %w", cfg.Name, cfg.EndpointType(), err)
	}
	return &Gateway{Config: cfg, Endpoint: ep, Log: log, RetryMin: time.Second, RetryMax: time.Minute, runners: opts.Runners}, nil
}

// Run runs the subscribers and the runners until ctx is cancelled (nil then) or a runner fails. The endpoint
// stays open: Close it after Run returns.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	subs := g.subscribers()
	g.health.mu.Lock()
	g.health.subs = subs
	g.health.mu.Unlock()
	for _, s := range subs {
		g.Metrics.startEntity(s.entity, g.Config.EndpointType())
		wg.Go(func() {
			if err := s.run(ctx); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("gateway %s: subscriber: %w", g.Config.Name, err))
			}
		})
	}
	names := make([]string, 0, len(g.runners))
	for n := range g.runners {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := g.runners[n]
		wg.Go(func() {
			if err := r(ctx, g); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("gateway %s: %s: %w", g.Config.Name, n, err))
			}
		})
	}
	if len(subs) == 0 {
		g.Log.Info("gateway: no stream subscriber enabled (scimgateway.stream.subscriber)", "gateway", g.Config.Name)
	}
	<-ctx.Done()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Close closes the endpoint.
func (g *Gateway) Close() error { return g.Endpoint.Close() }

// Run opens the gateway of cfg, runs it until ctx is cancelled and closes it.
func Run(ctx context.Context, cfg *Config, opts Options) error {
	g, err := Open(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer g.Close()
	return g.Run(ctx)
}

// subscribers builds one subscriber per enabled ENTRA/HR entity, in entity order. GW.* entities are request-
// reply (the responder), not stream subscriptions.
func (g *Gateway) subscribers() []*subscriber {
	sub := g.Config.Scimgateway.Stream.Subscriber
	if sub == nil || !sub.Enabled {
		return nil
	}
	names := make([]string, 0, len(sub.Entity))
	for n := range sub.Entity {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*subscriber
	for _, n := range names {
		e := sub.Entity[n]
		if isType(e.NATS.Subject, wire.GW) {
			continue
		}
		out = append(out, newSubscriber(g, n, e))
	}
	return out
}

func (g *Gateway) emit(e Event) {
	if g.OnEvent != nil {
		g.OnEvent(e)
	}
}
