package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/robfig/cron/v3"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// Broker is what the collectors need from the message broker: a publishing JetStream context in the (tenant,
// type) account, and the state bucket of that (tenant, type) in the internal account.
type Broker interface {
	JetStream(tenant string, typ wire.Type) (jetstream.JetStream, error)
	StateKV(ctx context.Context, tenant string, typ wire.Type) (jetstream.KeyValue, error)
}

// SourceFactory builds the source of a compiled tenant (the Entra source reads t.Mapper.SourcePaths() for its
// $select).
type SourceFactory func(t *Tenant) (Source, error)

// Runner runs every configured tenant on its schedule and applies new configuration snapshots without a
// restart: added tenants start, removed ones stop, and changed rules, dynamics, mappers and schedules take effect
// at the next collection (a collection in flight finishes with the snapshot it started with).
type Runner struct {
	Broker  Broker
	Sources map[wire.Type]SourceFactory
	Log     *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
	// OnError is told about every failed collection (e-mail notification).
	OnError func(tenant string, typ wire.Type, err error)
	// OnCollected is told about every finished collection (the demo prints it).
	OnCollected func(t *Tenant, s Stats, err error)
	// ImportState is a `scim-stream state-export` file imported into empty state buckets (state_transfer.go).
	ImportState string
	// OnInitialLoad is told when a tenant's initial load (general.do_initial_load) completed; the command turns
	// do_initial_load off in the configuration file with it. Until a snapshot without do_initial_load arrives,
	// the runner does not repeat the initial load.
	OnInitialLoad func(tenant string, typ wire.Type) error
	// RetryBudget is how many consecutive failed collections leave a tenant ready (Health); 0 means
	// DefaultRetryBudget.
	RetryBudget int

	mu     sync.Mutex
	failed map[string]failedStart // tenants whose configuration did not compile (Health)
	ctx    context.Context
	loops  map[string]*loop
	wg     sync.WaitGroup
}

type snapshot struct {
	tenant *Tenant
	source Source
}

type loop struct {
	name   string
	typ    wire.Type
	snap   chan *snapshot // capacity 1: the newest snapshot waiting to be picked up
	cur    *snapshot
	wake   chan struct{}
	cancel context.CancelFunc
	// initialDone is the tenant config an initial load completed for; until the written-back config arrives,
	// the same snapshot must not repeat it.
	initialDone *config.Tenant
	health      loopHealth
}

// Start binds the runner to ctx; loops stop when ctx ends. Call Apply with each snapshot.
func (r *Runner) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx = ctx
	r.loops = map[string]*loop{}
}

// Wait returns when every loop has stopped (after ctx ended).
func (r *Runner) Wait() { r.wg.Wait() }

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Apply reconciles the running tenants with cfg. A tenant whose new configuration does not compile keeps running
// with its previous one; the errors are returned (and logged) together.
func (r *Runner) Apply(cfg *config.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loops == nil {
		return fmt.Errorf("collector: Apply before Start")
	}
	want := map[string]bool{}
	var errs []error
	for k, tc := range cfg.Tenants() {
		name := k.Name
		typ, _ := wire.ParseType(k.Kind) // a configuration section: entra or hr
		id := string(typ) + "/" + name
		want[id] = true
		l := r.loops[id]
		if l != nil && l.cur != nil && reflect.DeepEqual(l.cur.tenant.Config, tc) {
			continue
		}
		snap, err := r.compile(name, typ, tc, l)
		r.noteStart(id, err)
		if err != nil {
			r.log().Error("configuration not applied; the tenant keeps its previous configuration", "tenant", name, "type", string(typ), "error", err)
			errs = append(errs, err)
			continue
		}
		if l == nil {
			l = &loop{name: name, typ: typ, snap: make(chan *snapshot, 1), wake: make(chan struct{}, 1)}
			l.cur = snap
			ctx, cancel := context.WithCancel(r.ctx)
			l.cancel = cancel
			r.loops[id] = l
			r.Metrics.start(name, typ)
			r.wg.Add(1)
			go func() { defer r.wg.Done(); r.run(ctx, l, snap) }()
			r.log().Info("tenant started", "tenant", name, "type", string(typ), "collect_interval", tc.General.CollectInterval.String())
			continue
		}
		l.cur = snap
		select { // replace a snapshot not picked up yet
		case <-l.snap:
		default:
		}
		l.snap <- snap
		select {
		case l.wake <- struct{}{}:
		default:
		}
		r.log().Info("tenant configuration applied; effective at the next collection", "tenant", name, "type", string(typ))
	}
	for id := range r.failed {
		if !want[id] {
			delete(r.failed, id)
		}
	}
	for id, l := range r.loops {
		if !want[id] {
			l.cancel()
			delete(r.loops, id)
			r.Metrics.stop(l.name, l.typ)
			r.log().Info("tenant removed; its collection stops", "tenant", l.name, "type", string(l.typ))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// Trigger runs a tenant's next collection now (the demo and tests use it).
func (r *Runner) Trigger(typ wire.Type, name string) {
	r.mu.Lock()
	l := r.loops[string(typ)+"/"+name]
	r.mu.Unlock()
	if l == nil {
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) compile(name string, typ wire.Type, tc *config.Tenant, prev *loop) (*snapshot, error) {
	t, err := Compile(name, typ, tc)
	if err != nil {
		return nil, err
	}
	f := r.Sources[typ]
	if f == nil {
		return nil, fmt.Errorf("%s tenant %q: this build has no %s collector", typ.Key(), name, typ.Key())
	}
	// Sources are rebuilt only when what they use changed: an Entra source keeps its HTTP client and tokens
	// across a rules-only edit.
	if prev != nil && prev.cur != nil && reflect.DeepEqual(prev.cur.tenant.Config.Auth, tc.Auth) &&
		reflect.DeepEqual(prev.cur.tenant.Config.General, tc.General) && reflect.DeepEqual(prev.cur.tenant.Config.Mapper, tc.Mapper) {
		return &snapshot{tenant: t, source: prev.cur.source}, nil
	}
	src, err := f(t)
	if err != nil {
		return nil, fmt.Errorf("%s tenant %q: %w", typ.Key(), name, err)
	}
	return &snapshot{tenant: t, source: src}, nil
}

// run is one tenant's collection loop.
func (r *Runner) run(ctx context.Context, l *loop, snap *snapshot) {
	log := r.log().With("tenant", l.name, "type", string(l.typ))
	l.health.setPhase(StateStarting)
	var p *Pipeline
	for p == nil {
		var err error
		p, err = r.pipeline(ctx, l)
		if err == nil {
			break
		}
		log.Error("cannot reach the broker for this tenant; retrying in 5s", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
	// In a cluster, only the holder of the (tenant, type)'s lease collects (lease.go).
	lease := r.startLease(ctx, l, p, log)
	imported := false
	l.health.setPhase(StateCollecting)
	// A tenant that never completed a collection runs at once, whatever its cron says.
	immediate := true
	if snap.tenant.Config.General.CollectInterval.IsCron() && !snap.tenant.Config.General.DoInitialLoad {
		if b, err := p.State.Checkpoints().Get(ctx, cpLastTotal); err == nil && b != nil {
			immediate = false
		}
	}
	for {
		if !immediate {
			next := r.next(snap.tenant.Config.General.CollectInterval)
			timer := time.NewTimer(next)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			case <-l.wake:
				timer.Stop()
			case <-lease.Gained():
				// A node taking over collects at once: the previous holder may have stopped mid-way.
				timer.Stop()
			}
		}
		immediate = false
		cctx, endTerm, ok := awaitLease(ctx, lease)
		if !ok {
			return
		}
		if !imported {
			if err := r.importState(cctx, p, log); err != nil {
				log.Error("collector state import failed; collecting stops until it succeeds (fix or remove nats.server.cluster.import_state)", "error", err)
				endTerm()
				continue
			}
			imported = true
		}
		select {
		case s := <-l.snap:
			snap = s
		default:
		}
		if ctx.Err() != nil {
			return
		}
		tc := snap.tenant.Config
		initial := tc.General.DoInitialLoad && l.initialDone != tc
		stats, err := p.Collect(cctx, snap.tenant, snap.source, initial)
		lost := cctx.Err() != nil || errors.Is(err, ErrLeaseLost)
		endTerm()
		if ctx.Err() != nil {
			return
		}
		if lost {
			log.Warn("collection stopped: the collector lease was lost; the node that holds it now continues where this one stopped", "stats", stats.String())
			continue
		}
		end := time.Now()
		r.Metrics.observe(snap.tenant, stats, err, end)
		if err != nil {
			l.health.track.Failure(end, err)
		} else {
			l.health.track.Success(end)
		}
		if r.OnCollected != nil {
			r.OnCollected(snap.tenant, stats, err)
		}
		if err != nil {
			log.Error("collection failed; it is repeated at the next run", "error", err, "stats", stats.String())
			if r.OnError != nil {
				r.OnError(l.name, l.typ, err)
			}
			continue
		}
		if stats.Warning != nil && r.OnError != nil {
			// Held leavers and incomplete sources were logged by the pipeline; they are mailed like errors.
			r.OnError(l.name, l.typ, stats.Warning)
		}
		if stats.Published > 0 || stats.Failed > 0 || stats.Duration > 5*time.Second {
			log.Info("collection done", "seen", stats.Seen, "changed", stats.Changed, "published", stats.Published,
				"failed", stats.Failed, "skipped", stats.Skipped, "duration", stats.Duration.Round(time.Millisecond))
		} else {
			log.Debug("collection done", "stats", stats.String())
		}
		if initial {
			l.initialDone = tc
			if r.OnInitialLoad != nil {
				if err := r.OnInitialLoad(l.name, l.typ); err != nil {
					log.Error("initial load done, but do_initial_load could not be set back to false; set it by hand", "error", err)
				} else {
					log.Info("initial load done; do_initial_load set to false in the configuration file")
				}
			}
		}
	}
}

func (r *Runner) pipeline(ctx context.Context, l *loop) (*Pipeline, error) {
	p, err := NewPipeline(ctx, r.Broker, l.name, l.typ)
	if err != nil {
		return nil, err
	}
	p.Log, p.Now, p.Metrics = r.log(), r.Now, r.Metrics
	return p, nil
}

// NewPipeline is the pipeline of (tenant, typ) on b: publishing in the tenant's account of that type, state in its
// bucket of the internal account.
func NewPipeline(ctx context.Context, b Broker, tenant string, typ wire.Type) (*Pipeline, error) {
	js, err := b.JetStream(tenant, typ)
	if err != nil {
		return nil, err
	}
	kv, err := b.StateKV(ctx, tenant, typ)
	if err != nil {
		return nil, err
	}
	state := NewState(kv)
	if sb, ok := b.(stateJetStream); ok {
		sjs, err := sb.StateJetStream()
		if err != nil {
			return nil, err
		}
		state = NewStateAsync(kv, sjs)
	}
	return &Pipeline{JS: js, State: state}, nil
}

// next is the wait before the next collection: collect_interval seconds after the previous one ended, or the
// crontab's next time.
func (r *Runner) next(ci config.CollectInterval) time.Duration {
	if !ci.IsCron() {
		return ci.Every()
	}
	s, err := cron.ParseStandard(ci.Cron)
	if err != nil {
		// config validation rejects such a value; be safe anyway.
		return time.Hour
	}
	now := time.Now()
	return s.Next(now).Sub(now)
}
