// Package sourcetest is the conformance suite every collector.Source passes, as gateway/endpointtest is for the
// endpoints: a source's package runs it against its imitation server. It checks what the pipeline relies on and
// cannot check itself:
//   - a complete collection (full=true) emits every user of the source once, and an incremental one a subset
//     that includes what changed;
//   - emit's error stops the collection and is returned;
//   - checkpoints are stored only for what emit accepted: after a failed emit nothing more is stored, and the
//     next collection (of the same source, or of a new one after a restart) emits the failed change again;
//   - a record is not changed after it was emitted (the pipeline maps records on other goroutines);
//   - the source declares a Policy.
//
// Checkpoints are the collector's own, on a bare embedded JetStream key-value bucket.
package sourcetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
)

// Harness is a source's imitation, driven by the suite.
type Harness struct {
	// New builds a new source over the imitation, as the runner does at start or after a restart.
	New func(t *testing.T) collector.Source
	// IDs are the ids of the records a complete collection emits now (the users in the source's scope).
	IDs func(t *testing.T) []string
	// Change changes one user in scope at the imitation and returns its id: the next collection must emit it.
	// Each call changes something new.
	Change func(t *testing.T) string
	// Policy is what the source must declare.
	Policy collector.Policy
}

// Run runs the suite; each test gets a new imitation state only through Change, so tests are independent of
// their order.
func Run(t *testing.T, h Harness) {
	t.Run("Policy", func(t *testing.T) {
		if got := h.New(t).Policy(); got != h.Policy {
			t.Errorf("Policy() = %+v, want %+v", got, h.Policy)
		}
	})
	t.Run("FirstCollectionIsCompleteAndEmitsEveryoneOnce", func(t *testing.T) {
		c := newRun(t, h.New(t), checkpoints(t))
		full, err := c.collect(nil)
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		if !full {
			t.Fatal("the first collection of a new source with no checkpoints returned full=false; it knows nothing yet, so it must list everyone")
		}
		c.wantEveryone(t, h.IDs(t))
	})
	t.Run("NextCollectionEmitsTheChange", func(t *testing.T) {
		c := newRun(t, h.New(t), checkpoints(t))
		if _, err := c.collect(nil); err != nil {
			t.Fatalf("first Collect: %v", err)
		}
		id := h.Change(t)
		full, err := c.collect(nil)
		if err != nil {
			t.Fatalf("Collect after a change: %v", err)
		}
		if full {
			c.wantEveryone(t, h.IDs(t))
		} else {
			c.wantSubset(t, h.IDs(t))
		}
		if !slices.Contains(c.last, id) {
			t.Errorf("the collection after changing %s did not emit it (emitted %d records)", id, len(c.last))
		}
	})
	t.Run("EmitErrorStopsTheCollectionAndIsReturned", func(t *testing.T) {
		c := newRun(t, h.New(t), checkpoints(t))
		sentinel := errors.New("sourcetest: emit refused")
		calls := 0
		_, err := c.collect(func(collector.Record) error {
			calls++
			if calls == 2 {
				return sentinel
			}
			return nil
		})
		if !errors.Is(err, sentinel) {
			t.Fatalf("Collect with a failing emit returned %v, want an error wrapping emit's", err)
		}
		if calls != 2 {
			t.Errorf("emit was called %d times; the collection must stop at the failing call (2)", calls)
		}
	})
	t.Run("FailedChangeIsEmittedAgain", func(t *testing.T) {
		cp := checkpoints(t)
		c := newRun(t, h.New(t), cp)
		if _, err := c.collect(nil); err != nil {
			t.Fatalf("first Collect: %v", err)
		}
		id := h.Change(t)
		sentinel := errors.New("sourcetest: emit refused")
		failed := false
		_, err := c.collect(func(r collector.Record) error {
			if r.ID == id {
				failed = true
				return sentinel
			}
			return nil
		})
		if !failed {
			t.Fatalf("the collection after changing %s did not emit it", id)
		}
		if !errors.Is(err, sentinel) {
			t.Fatalf("Collect returned %v, want emit's error", err)
		}
		if n := cp.putsAfterFailure(); n > 0 {
			t.Errorf("%d checkpoint(s) stored after emit failed: a crash now would lose the change", n)
		}
		// The same source retries...
		if _, err := c.collect(nil); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if !slices.Contains(c.last, id) {
			t.Errorf("the retry of the same source did not emit %s again", id)
		}
		// ...and a new one (a restart) on the checkpoints the failed collection left does too.
		cp2 := checkpoints(t)
		restart := newRun(t, h.New(t), cp2)
		if _, err := restart.collect(nil); err != nil {
			t.Fatalf("first Collect of the restarted source: %v", err)
		}
		id = h.Change(t)
		if _, err := restart.collect(func(r collector.Record) error {
			if r.ID == id {
				return sentinel
			}
			return nil
		}); !errors.Is(err, sentinel) {
			t.Fatalf("Collect returned %v, want emit's error", err)
		}
		after := newRun(t, h.New(t), cp2)
		if _, err := after.collect(nil); err != nil {
			t.Fatalf("Collect after the restart: %v", err)
		}
		if !slices.Contains(after.last, id) {
			t.Errorf("after a restart, the change of %s that failed before is not emitted again: it is lost", id)
		}
	})
	t.Run("RecordsAreNotChangedAfterEmit", func(t *testing.T) {
		c := newRun(t, h.New(t), checkpoints(t))
		var recs []collector.Record
		var at [][]byte
		collect := func() {
			recs, at = recs[:0], at[:0]
			if _, err := c.collect(func(r collector.Record) error {
				recs = append(recs, r)
				at = append(at, encode(t, r))
				return nil
			}); err != nil {
				t.Fatalf("Collect: %v", err)
			}
			for i, r := range recs {
				if now := encode(t, r); string(now) != string(at[i]) {
					t.Fatalf("record %s changed after it was emitted:\nat emit: %s\nnow:     %s", r.ID, at[i], now)
				}
			}
		}
		collect()
		h.Change(t)
		collect()
	})
}

// run is a source and its checkpoints across collections.
type run struct {
	t    *testing.T
	src  collector.Source
	cp   *recorder
	last []string // ids emitted by the last collection
}

func newRun(t *testing.T, src collector.Source, cp *recorder) *run {
	return &run{t: t, src: src, cp: cp}
}

// collect runs one collection; emit, when set, decides each record's answer.
func (c *run) collect(emit func(collector.Record) error) (bool, error) {
	c.last = c.last[:0]
	c.cp.start()
	full, err := c.src.Collect(context.Background(), c.cp, func(r collector.Record) error {
		c.cp.inEmit(true)
		defer c.cp.inEmit(false)
		c.last = append(c.last, r.ID)
		if emit != nil {
			if err := emit(r); err != nil {
				c.cp.failed()
				return err
			}
		}
		return nil
	})
	if n := c.cp.putsDuringEmit(); n > 0 {
		c.t.Errorf("%d checkpoint(s) stored while emit was running: a checkpoint must follow the records it covers", n)
	}
	return full, err
}

func (c *run) wantEveryone(t *testing.T, want []string) {
	t.Helper()
	got := slices.Clone(c.last)
	slices.Sort(got)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Errorf("record %s emitted twice in one collection", got[i])
		}
	}
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(slices.Compact(got), want) {
		t.Errorf("a complete collection emitted %d distinct ids, want the %d users in scope:\ngot  %v\nwant %v", len(slices.Compact(got)), len(want), got, want)
	}
}

func (c *run) wantSubset(t *testing.T, scope []string) {
	t.Helper()
	for _, id := range c.last {
		if !slices.Contains(scope, id) {
			t.Errorf("an incremental collection emitted %s, which is not a user in scope", id)
		}
	}
}

func encode(t *testing.T, r collector.Record) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("record %s cannot be encoded: %v", r.ID, err)
	}
	return b
}

// checkpoints are the collector's checkpoints on a new bare JetStream bucket, recorded.
func checkpoints(t *testing.T) *recorder {
	return &recorder{Checkpoints: collector.NewState(brokertest.BareKV(t, "sourcetest")).Checkpoints()}
}

// recorder observes the real checkpoints: puts while emit runs, and puts after a failed emit.
type recorder struct {
	collector.Checkpoints
	mu                 sync.Mutex
	emitting, failedAt bool
	duringEmit, after  int
}

func (r *recorder) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emitting, r.failedAt, r.duringEmit, r.after = false, false, 0, 0
}

func (r *recorder) inEmit(on bool) {
	r.mu.Lock()
	r.emitting = on
	r.mu.Unlock()
}

func (r *recorder) failed() {
	r.mu.Lock()
	r.failedAt = true
	r.mu.Unlock()
}

func (r *recorder) putsDuringEmit() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.duringEmit
}

func (r *recorder) putsAfterFailure() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.after
}

func (r *recorder) Put(ctx context.Context, key string, value []byte) error {
	r.mu.Lock()
	if r.emitting {
		r.duringEmit++
	}
	if r.failedAt {
		r.after++
	}
	r.mu.Unlock()
	return r.Checkpoints.Put(ctx, key, value)
}
