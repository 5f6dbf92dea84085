package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Gateway is a running bundled gateway: its configuration, its open endpoint, and the parts that use them (the
// stream subscribers here; the SCIM HTTP server and GW responders attach as runners).
type Gateway struct {
	Config   *Config
	Endpoint Endpoint
	Log      *slog.Logger
	// OnEvent, when set before Run, is called after each stream message was handled (from the entity's
	// goroutine; entities run concurrently). The demo prints "user provisioned" lines from it.
	OnEvent func(Event)
	// RetryMin and RetryMax bound the nak back-off after an endpoint failure (doubling per delivery).
	RetryMin, RetryMax time.Duration
	// Metrics, when set before Run, records messages and SCIM requests (see NewMetrics).
	Metrics *Metrics

	health gwHealth
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

var (
	runnersMu sync.Mutex
	runners   = map[string]Runner{}
)

// RegisterRunner adds a part that every Gateway.Run starts; packages call it from init.
func RegisterRunner(name string, r Runner) {
	runnersMu.Lock()
	defer runnersMu.Unlock()
	if _, dup := runners[name]; dup {
		panic("gateway: runner " + name + " registered twice")
	}
	runners[name] = r
}

// Open opens the configured endpoint and returns a gateway ready to Run.
func Open(ctx context.Context, cfg *Config, log *slog.Logger) (*Gateway, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ep, err := OpenEndpoint(ctx, cfg.EndpointType(), cfg.Endpoint.Node, EndpointEnv{Dir: cfg.Dir, Name: cfg.Name, Log: log})
	if err != nil {
		return nil, fmt.Errorf("gateway %s: endpoint %s: %w", cfg.Name, cfg.EndpointType(), err)
	}
	return &Gateway{Config: cfg, Endpoint: ep, Log: log, RetryMin: time.Second, RetryMax: time.Minute}, nil
}

// Run runs the subscribers and the registered runners until ctx is cancelled (nil then) or a runner fails.
// The endpoint stays open: Close it after Run returns.
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
	runnersMu.Lock()
	names := make([]string, 0, len(runners))
	for n := range runners {
		names = append(names, n)
	}
	sort.Strings(names)
	rs := make([]Runner, len(names))
	for i, n := range names {
		rs[i] = runners[n]
	}
	runnersMu.Unlock()
	for i, r := range rs {
		wg.Go(func() {
			if err := r(ctx, g); err != nil && ctx.Err() == nil {
				cancel(fmt.Errorf("gateway %s: %s: %w", g.Config.Name, names[i], err))
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
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	g, err := Open(ctx, cfg, log)
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
		if strings.HasPrefix(e.NATS.Subject, "GW.") {
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
