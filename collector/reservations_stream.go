package collector

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An initial load reserves unique values for every user it publishes: two KV round trips per new user, on the
// workers, were what bounded it. With an asynchronous state (NewStateAsync) it reads the keys of the reservations
// the state holds as it starts, and then answers from memory: the collector is the single writer of its (tenant,
// type) (the scheduler never overlaps its collections, and the lease keeps other replicas out), so a value
// absent at the start and not granted since is free. A granted value is written with KeyValue.Create's check
// (never written before) as an asynchronous publish, and the user's messages are published only after that write
// is acknowledged: a crash never leaves a published value unreserved. Should another process have reserved it
// meanwhile after all, the check fails and the collection stops before any message carries the value.

// pendingReservation is a reservation granted from memory, on its way to the KV.
type pendingReservation struct {
	id     uniqID
	key    string
	msg    *nats.Msg
	future jetstream.PubAckFuture
	what   string
}

// streamFromMemory makes r answer from memory: taken are the reservations the state holds now.
func (r *reservations) streamFromMemory(ctx context.Context) error {
	taken := map[uniqID]struct{}{}
	if err := r.s.reservedKeys(ctx, func(id uniqID) { taken[id] = struct{}{} }); err != nil {
		return err
	}
	r.mu.Lock()
	r.taken, r.granted = taken, map[string][]*pendingReservation{}
	r.mu.Unlock()
	return nil
}

// grant is Reserve from memory. It reports ok=false when it cannot answer (not in memory mode, or the value
// was taken before the collection by an owner not yet read).
func (r *reservations) grant(id uniqID, attribute, value, owner string) (granted, ok bool) {
	r.mu.Lock()
	if r.taken == nil {
		r.mu.Unlock()
		return false, false
	}
	if holder, known := r.owners[id]; known {
		r.mu.Unlock()
		return holder == owner, true
	}
	if _, before := r.taken[id]; before {
		r.mu.Unlock()
		return false, false
	}
	// Learned before the write is sent: no other record can be granted the value meanwhile.
	r.learn(id, owner)
	key := reservationKey(id)
	pr := &pendingReservation{id: id, key: key, msg: r.s.kvMsg(key, []byte(owner), true),
		what: fmt.Sprintf("%s %q", attribute, value)}
	r.granted[owner] = append(r.granted[owner], pr)
	r.mu.Unlock()
	// Sent outside the lock: a full window of async publishes blocks here until acks come back.
	if f, err := r.s.js.PublishMsgAsync(pr.msg); err == nil {
		r.mu.Lock()
		pr.future = f
		r.mu.Unlock()
	}
	return true, true
}

// stored takes owner's reservations granted from memory and returns the wait for their writes, or nil when
// there are none. A write whose ack failed is made again with a round trip (KV Create): finding the key held by
// owner (an earlier attempt that did arrive) is success, held by anyone else is an error that stops the
// collection before the user's messages are published.
func (r *reservations) stored(owner string) func(context.Context) error {
	r.mu.Lock()
	prs := r.granted[owner]
	delete(r.granted, owner)
	r.mu.Unlock()
	if len(prs) == 0 {
		return nil
	}
	return func(ctx context.Context) error {
		// Every write is awaited, so that each value taken elsewhere is learned before the record is mapped again.
		var taken error
		for _, pr := range prs {
			r.mu.Lock()
			f := pr.future
			r.mu.Unlock()
			if f != nil {
				select {
				case <-f.Ok():
					continue
				case <-f.Err():
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			holder, err := r.s.claim(ctx, pr.key, owner)
			if err != nil {
				return fmt.Errorf("state %s: reserve %s: %w", r.s.kv.Bucket(), pr.what, err)
			}
			if holder != owner && taken == nil {
				taken = fmt.Errorf("state %s: %s was granted to %q but another process reserved it for %q during the collection "+
					"(two collectors on one tenant and type?); nothing with it was published: %w",
					r.s.kv.Bucket(), pr.what, owner, holder, errReservedMeanwhile)
			}
			if holder != owner {
				// The registry answers with the true holder from now on (a redo of the record walks on).
				r.mu.Lock()
				r.learn(pr.id, holder)
				r.mu.Unlock()
			}
		}
		return taken
	}
}

var errReservedMeanwhile = errors.New("unique value reserved by another process")

// forget drops owner's reservations granted from memory whose record was not published (a mapping failure):
// they stay reserved, as a round-trip reservation would, but nothing waits for them.
func (r *reservations) forget(owner string) {
	r.mu.Lock()
	delete(r.granted, owner)
	r.mu.Unlock()
}

// streamWrites prepares the collection's writes: with an asynchronous state, a first collection (the state
// remembers no user: an initial load, where nearly every record reserves values) answers reservations from
// memory. An everyday collection has a few joiners against a large registry: reading every reservation's key
// would cost more than their round trips.
func (r *collection) streamWrites(ctx context.Context) error {
	if r.p.State.js == nil || r.known {
		return nil
	}
	return r.uniq.streamFromMemory(ctx)
}

// userWrite is the pending record of a change: its messages wait for the reservations granted to the user from
// memory, and its state is written asynchronously when the state can.
func (r *collection) userWrite(key string, msgs []*nats.Msg, next, prev *UserState, rec Record) *pendingRecord {
	st := r.p.State
	pr := &pendingRecord{msgs: msgs, before: r.uniq.stored(key),
		commit: func(ctx context.Context) error { return st.PutUser(ctx, next) }}
	if pr.before != nil {
		// A value granted from memory that another process reserved meanwhile: the record is mapped again (on
		// the queue's goroutine) and its new pending record replaces this one. Its statistics count twice.
		pr.redo = func(ctx context.Context) (*pendingRecord, error) {
			var again *pendingRecord
			err := r.process(context.WithValue(ctx, redoKey{}, &again), key, prev, rec)
			return again, err
		}
	}
	if st.js != nil {
		pr.commitAsync = func() (jetstream.PubAckFuture, error) { return st.putUserAsync(next) }
	}
	return pr
}

// redoKey carries the slot a record mapped again is returned in, instead of being queued.
type redoKey struct{}

// queue hands a record's writes to the ack queue (or to the redo that mapped it again).
func (r *collection) queue(ctx context.Context, pr *pendingRecord) error {
	if slot, ok := ctx.Value(redoKey{}).(**pendingRecord); ok {
		*slot = pr
		return nil
	}
	return r.acks.add(ctx, pr)
}
