package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// The mass-change guard. A collection that would deactivate or delete more users than general.guard allows is
// held: its leavers (users whose active turns false, users deleted) are not published, while every other change
// flows. The hold is recorded in the tenant's state bucket, where `scim-stream release` (another process) finds it
// and approves it; the next collection then publishes the leavers it finds, up to the number approved. A source
// that is fixed ends the hold by itself: the next collection finds few enough leavers and publishes them. Nothing
// is lost: a held leaver keeps its state as last published, so every later collection finds it again.

// Checkpoint keys of the guard (in the pipeline's checkpoint space of the tenant's state bucket).
const (
	cpHold    = "guard.hold"
	cpRelease = "guard.release"
)

// Hold is a held mass change as the tenant's state records it.
type Hold struct {
	// Leavers is the number of users the last held collection would have deactivated or deleted; Known the
	// number of users the tenant's state held then.
	Leavers int `json:"leavers"`
	Known   int `json:"known"`
	// Since is when the hold began; Last the last collection that held it.
	Since time.Time `json:"since"`
	Last  time.Time `json:"last"`
	// Bounds is general.guard as it was applied.
	Bounds string `json:"bounds"`
}

// Release is an operator's approval of a hold: the next collection publishes up to Approved leavers.
type Release struct {
	Approved int       `json:"approved"`
	At       time.Time `json:"at"`
	By       string    `json:"by,omitempty"`
}

// ErrNoHold is returned by ReleaseHold when the tenant has nothing held.
var ErrNoHold = errors.New("nothing is held")

// ReadHold returns the tenant's hold and release, nil when absent.
func (s *State) ReadHold(ctx context.Context) (*Hold, *Release, error) {
	cp := s.Checkpoints()
	var h *Hold
	var rel *Release
	if b, err := cp.Get(ctx, cpHold); err != nil {
		return nil, nil, err
	} else if len(b) > 0 {
		h = &Hold{}
		if err := json.Unmarshal(b, h); err != nil {
			return nil, nil, fmt.Errorf("state %s: hold record unreadable: %w", s.kv.Bucket(), err)
		}
	}
	if b, err := cp.Get(ctx, cpRelease); err != nil {
		return nil, nil, err
	} else if len(b) > 0 {
		rel = &Release{}
		if err := json.Unmarshal(b, rel); err != nil {
			return nil, nil, fmt.Errorf("state %s: release record unreadable: %w", s.kv.Bucket(), err)
		}
	}
	return h, rel, nil
}

// ReleaseHold approves the tenant's hold: the next collection publishes up to as many leavers as were held. A
// source that got worse since (more leavers than approved) stays held. It returns the hold it released.
func (s *State) ReleaseHold(ctx context.Context, by string, now time.Time) (*Hold, error) {
	h, _, err := s.ReadHold(ctx)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, ErrNoHold
	}
	b, _ := json.Marshal(Release{Approved: h.Leavers, At: now.UTC(), By: by})
	if err := s.Checkpoints().Put(ctx, cpRelease, b); err != nil {
		return nil, err
	}
	return h, nil
}

// guard is one collection's view of the mass-change guard: it counts leavers and keeps their publication back
// until the collection knows how many there are.
type guard struct {
	r      *collection
	limits config.Guard
	// hold and release as the collection found them.
	hold    *Hold
	release *Release

	mu       sync.Mutex
	leavers  int                           // found by this collection
	deferred []func(context.Context) error // their publications, not run yet
	stored   int                           // how many deferred publications are kept (the rest: counted only)
	keep     int                           // the most deferred publications worth keeping, 0 until known
	holding  bool                          // this collection holds its leavers
	known    int                           // users in the state as the collection started (-1 = not counted)
	counting sync.Once
	released int // leavers published under a release
}

func newGuard(ctx context.Context, r *collection) (*guard, error) {
	g := &guard{r: r, limits: r.t.Config.General.Guard, known: -1}
	var err error
	if g.hold, g.release, err = r.p.State.ReadHold(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// isLeaver reports whether publishing user after prev deactivates a user (a deletion is always a leaver).
func isLeaver(prev *UserState, user scim.User) bool {
	return prev != nil && !prev.Gone && prev.User["active"] != false && user["active"] == false
}

// defer_ takes a leaver's publication. It returns false when the guard is off: the caller publishes at once.
func (g *guard) defer_(ctx context.Context, publish func(context.Context) error) (bool, error) {
	if g.limits.Off() {
		return false, nil
	}
	g.mu.Lock()
	g.leavers++
	if g.holding {
		g.mu.Unlock()
		return true, nil
	}
	if g.keep == 0 || g.stored < g.keep {
		g.deferred = append(g.deferred, publish)
		g.stored++
		over := g.keep == 0 && g.stored > g.limits.MaxLeavers
		g.mu.Unlock()
		if over {
			// Beyond the count bound the percentage decides: the users known are counted once.
			return true, g.countKnown(ctx)
		}
		return true, nil
	}
	// More leavers than could ever be published: the collection will hold them; their publications are not kept
	// (memory stays bounded by the threshold, whatever the source does).
	g.mu.Unlock()
	return true, nil
}

// countKnown counts the active users of the state (once) and sets how many deferred publications are worth keeping:
// the most leavers the guard lets through, or the number a release approved.
func (g *guard) countKnown(ctx context.Context) error {
	var err error
	g.counting.Do(func() {
		var n int
		n, err = g.r.p.State.activeUsers(ctx)
		g.mu.Lock()
		defer g.mu.Unlock()
		g.known = n
		keep := g.limits.MaxLeavers
		if g.limits.MaxLeaversPercent > 0 {
			keep = max(keep, int(math.Floor(g.limits.MaxLeaversPercent*float64(n)/100)))
		}
		if g.release != nil {
			keep = max(keep, g.release.Approved)
		}
		g.keep = max(keep, 1)
	})
	return err
}

// settle decides about the leavers deferred so far: published (few enough, or approved by a release) or held.
// It runs before a source commits a checkpoint and at the end of the collection.
func (g *guard) settle(ctx context.Context) error {
	g.mu.Lock()
	n := g.leavers
	g.mu.Unlock()
	if n == 0 || g.limits.Off() {
		return nil
	}
	if g.limits.MaxLeavers == 0 || n > g.limits.MaxLeavers {
		if err := g.countKnown(ctx); err != nil {
			return err
		}
	}
	g.mu.Lock()
	exceeded := g.holding || g.limits.Exceeded(n, g.known)
	approved := g.release != nil && n <= g.release.Approved
	if exceeded && !approved {
		g.holding = true
		g.deferred = nil
		g.mu.Unlock()
		return nil
	}
	run := g.deferred
	g.deferred = nil
	if exceeded {
		g.released += len(run)
	}
	g.mu.Unlock()
	for _, f := range run {
		if err := g.r.work.submit(ctx, func() error { return f(ctx) }); err != nil {
			return err
		}
	}
	return g.r.flush(ctx)
}

// finish records the collection's outcome in the state: a new or continued hold, or the end of a hold (source
// fixed, or released and published). It returns the hold to report, nil when nothing is held.
func (g *guard) finish(ctx context.Context, now time.Time) (*Hold, error) {
	if g.limits.Off() && g.hold == nil {
		return nil, nil
	}
	g.mu.Lock()
	holding, n, known := g.holding, g.leavers, g.known
	g.mu.Unlock()
	cp := g.r.p.State.Checkpoints()
	if holding {
		h := Hold{Leavers: n, Known: known, Since: now.UTC(), Last: now.UTC(), Bounds: g.limits.String()}
		if g.hold != nil {
			h.Since = g.hold.Since
		}
		b, _ := json.Marshal(h)
		if err := cp.Put(ctx, cpHold, b); err != nil {
			return nil, err
		}
		return &h, nil
	}
	if g.hold != nil || g.release != nil {
		// Published under a release, or few enough leavers now: the hold is over, and so is its release.
		for _, k := range []string{cpHold, cpRelease} {
			if err := cp.Put(ctx, k, nil); err != nil {
				return nil, err
			}
		}
		if g.released > 0 {
			g.r.log.Warn("mass change released: the held leavers were published", "leavers", g.released, "approved", g.release.Approved)
		} else if g.hold != nil {
			g.r.log.Info("mass-change hold ended by itself: the source no longer reports mass leavers", "leavers", n,
				"held_before", g.hold.Leavers)
		}
	}
	return nil, nil
}

// HeldError is a collection's held mass change, as mailed and logged.
type HeldError struct {
	Tenant string
	Type   wire.Type
	Hold   Hold
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("mass change held: this collection would deactivate or delete %d of %d known users (general.guard: held at %s); "+
		"these leavers are not published, every other change is. Check the source; if the leavers are real, release them with: "+
		"scim-stream release -tenant %s -type %s", e.Hold.Leavers, e.Hold.Known, e.Hold.Bounds, e.Tenant, e.Type.Key())
}

// activeUsers counts the users the state remembers that are not deactivated: the base of the guard's percentage
// (people who left long ago must not make a mass change look small). It reads every value, once, and only when a
// collection has more leavers than max_leavers.
func (s *State) activeUsers(ctx context.Context) (int, error) {
	w, err := s.kv.WatchFiltered(ctx, []string{"user.>"}, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, fmt.Errorf("state %s: count users: %w", s.kv.Bucket(), err)
	}
	defer w.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("state %s: count users: %w", s.kv.Bucket(), context.Cause(ctx))
		case e, ok := <-w.Updates():
			if !ok {
				return 0, fmt.Errorf("state %s: count users: the watcher stopped early; the collection is retried", s.kv.Bucket())
			}
			if e == nil {
				return n, nil
			}
			var us struct {
				User struct {
					Active *bool `json:"active"`
				} `json:"user"`
				Gone bool `json:"gone"`
			}
			if json.Unmarshal(e.Value(), &us) == nil && !us.Gone && (us.User.Active == nil || *us.User.Active) {
				n++
			}
		}
	}
}
