package collector

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/wire"
)

// maxHeldBack bounds the changes an HR collection keeps back until its source has listed everyone (message bodies,
// the user and its channel views). Measured with BenchmarkPipelineSuccessFactors at 20,000 users: peak 194-211 MB
// with 1,000 against 157-165 MB without holding back (same session; throughput within the shared machine's noise).
// An ordinary collection changes far fewer users; beyond it changes are published as they come, as before.
const maxHeldBack = 1000

// heldBack keeps an HR collection's changes back until the source has listed everybody: only then is it known
// whether an id came twice, and a duplicate id must publish neither record — not even the first one, which came
// before its twin. An ordinary collection changes a handful of users, so this costs nothing; a large initial load
// publishes beyond maxHeldBack as it goes.
type heldBack struct {
	mu      sync.Mutex
	changes []heldChange
	done    atomic.Bool // the source has listed everybody: publish at once
	dupMu   sync.Mutex  // guards safety.dups against the workers' reads
}

type heldChange struct {
	key string
	pr  *pendingRecord
}

// publish hands a change's writes to the ack queue, or keeps them back while an HR source is still listing. A
// record mapped again (redo) goes back to its redo at once.
func (r *collection) publish(ctx context.Context, key string, pr *pendingRecord) error {
	if _, redo := ctx.Value(redoKey{}).(**pendingRecord); r.t.Type == wire.HR && !redo {
		if r.back.done.Load() {
			if r.isDuplicate(key) {
				r.dropDuplicate(pr.msgs)
				return nil
			}
		} else {
			r.back.mu.Lock()
			if len(r.back.changes) < maxHeldBack {
				r.back.changes = append(r.back.changes, heldChange{key: key, pr: pr})
				r.back.mu.Unlock()
				return nil
			}
			r.back.mu.Unlock()
		}
	}
	return r.queue(ctx, pr)
}

// publishHeldBack publishes what was kept back, except the changes of ids that turned out duplicated. It runs
// once the source has returned and every record was processed; from then on changes are published at once.
func (r *collection) publishHeldBack(ctx context.Context) error {
	r.back.done.Store(true)
	return r.releaseHeldBack(ctx)
}

// releaseHeldBack publishes what was kept back so far (a checkpoint write waits for everything emitted before it).
func (r *collection) releaseHeldBack(ctx context.Context) error {
	r.back.mu.Lock()
	changes := r.back.changes
	r.back.changes = nil
	r.back.mu.Unlock()
	for _, c := range changes {
		if r.isDuplicate(c.key) {
			r.dropDuplicate(c.pr.msgs)
			continue
		}
		if err := r.acks.add(ctx, c.pr); err != nil {
			return err
		}
	}
	return r.flush(ctx)
}

func (r *collection) isDuplicate(key string) bool {
	r.back.dupMu.Lock()
	defer r.back.dupMu.Unlock()
	return len(r.dups[key]) > 0
}

// dropDuplicate takes back the statistics of a change that is not published.
func (r *collection) dropDuplicate(msgs []*nats.Msg) {
	r.count(func(s *Stats) { s.Changed--; s.Published -= len(msgs) })
}
