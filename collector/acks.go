package collector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/wire"
)

// ackQueue pipelines publishing: messages go out asynchronously, and each record's state is advanced (commit)
// only after all of its messages were acknowledged by JetStream. A message whose async publish failed is
// republished synchronously with the same Nats-Msg-Id until it is acknowledged or the collection is cancelled —
// a publish is never given up silently.
//
// A record goes through stages, each on its own goroutine and in record order, so that no stage waits for a
// round trip per record while the next records queue behind it:
//
//  1. loop: a record with unique values reserved from memory (before) waits until those reservations are stored,
//     then its messages are published (a message must never carry a value that is not reserved durably: a crash
//     would let the next collection hand it to someone else). Other records were published by add already.
//  2. acked: the messages' acks are awaited; then the state write is published asynchronously (commitAsync), or,
//     without one, handed to the committers, which write it with a round trip each on several goroutines.
//  3. stored: the state write's ack is awaited (a failed one is written again synchronously).
type ackQueue struct {
	js        jetstream.JetStream
	pending   chan *pendingRecord
	published chan *pendingRecord
	commits   chan *pendingRecord
	stored    chan *pendingRecord
	done      chan struct{}
	onError   func(error)

	mu      sync.Mutex
	err     error
	waiters []chan struct{}
	queued  int
}

type pendingRecord struct {
	msgs    []*nats.Msg
	futures []jetstream.PubAckFuture
	// before, when set, must succeed before msgs are published (by the queue, in record order). When it fails
	// because a unique value was reserved elsewhere meanwhile, redo maps the record again (the registry knows
	// the holder now) and returns its new pending record (nil: nothing to publish, the record was skipped).
	before func(context.Context) error
	redo   func(context.Context) (*pendingRecord, error)
	// commit writes the record's state with a round trip; commitAsync, when set, starts the same write without
	// waiting (state is its ack), and commit is the fallback when that write fails.
	commit      func(context.Context) error
	commitAsync func() (jetstream.PubAckFuture, error)
	state       jetstream.PubAckFuture
}

// committers is the number of concurrent synchronous state writes: enough to keep the KV busy while round trips
// are in flight.
const committers = 16

func newAckQueue(ctx context.Context, js jetstream.JetStream, window int, onError func(error)) *ackQueue {
	q := &ackQueue{js: js, pending: make(chan *pendingRecord, window), published: make(chan *pendingRecord, window),
		commits: make(chan *pendingRecord, window), stored: make(chan *pendingRecord, window),
		done: make(chan struct{}), onError: onError}
	var wg sync.WaitGroup
	for range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pr := range q.commits {
				if q.failed() == nil {
					if err := pr.commit(ctx); err != nil {
						q.fail(err)
					}
				}
				q.finish()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		q.storeLoop(ctx)
	}()
	go func() {
		q.loop(ctx)
		close(q.published)
	}()
	go func() {
		q.ackLoop(ctx)
		close(q.commits)
		close(q.stored)
		wg.Wait()
		close(q.done)
	}()
	return q
}

// add queues a record: its messages are published at once (or after pr.before, by the queue) and pr.commit
// runs after their acks. It blocks when the window is full.
func (q *ackQueue) add(ctx context.Context, pr *pendingRecord) error {
	if err := q.failed(); err != nil {
		return err
	}
	if pr.before == nil {
		q.publish(pr)
	}
	q.mu.Lock()
	q.queued++
	q.mu.Unlock()
	select {
	case q.pending <- pr:
		return nil
	case <-ctx.Done():
		q.finish()
		return context.Cause(ctx)
	}
}

// publish sends a record's messages asynchronously; one that cannot be sent (too many pending, disconnected) is
// republished synchronously when its ack is awaited.
func (q *ackQueue) publish(pr *pendingRecord) {
	for _, m := range pr.msgs {
		f, err := q.js.PublishMsgAsync(m)
		if err != nil {
			f = nil
		}
		pr.futures = append(pr.futures, f)
	}
}

// drain waits until every queued record is committed.
func (q *ackQueue) drain(ctx context.Context) error {
	q.mu.Lock()
	if q.queued == 0 || q.err != nil {
		err := q.err
		q.mu.Unlock()
		return err
	}
	w := make(chan struct{})
	q.waiters = append(q.waiters, w)
	q.mu.Unlock()
	select {
	case <-w:
		return q.failed()
	case <-ctx.Done():
		if err := q.failed(); err != nil {
			return err
		}
		return context.Cause(ctx)
	}
}

func (q *ackQueue) stop() {
	close(q.pending)
	<-q.done
}

func (q *ackQueue) failed() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

func (q *ackQueue) fail(err error) {
	q.mu.Lock()
	first := q.err == nil
	if first {
		q.err = err
	}
	q.mu.Unlock()
	if first {
		q.onError(err)
	}
}

// finish counts a record as done (committed, or abandoned after an error) and wakes drain when nothing is left.
func (q *ackQueue) finish() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued--
	if q.queued == 0 || q.err != nil {
		for _, w := range q.waiters {
			close(w)
		}
		q.waiters = nil
	}
}

// loop is stage 1: records whose messages wait for their reservations are published here, in order.
func (q *ackQueue) loop(ctx context.Context) {
	for pr := range q.pending {
		if q.failed() != nil {
			q.finish()
			continue
		}
		if pr.before != nil {
			skip, err := pr.reserved(ctx)
			if err != nil {
				q.fail(err)
			}
			if err != nil || skip {
				q.finish()
				continue
			}
			q.publish(pr)
		}
		q.published <- pr
	}
}

// maxRedo bounds the mappings of one record whose values were reserved elsewhere meanwhile (each learns a
// holder; beyond it the collection stops and the next one starts from what the KV holds).
const maxRedo = 100

// reserved waits for the record's reservations, mapping it again as often as one of its values turns out to be
// reserved elsewhere (each round learns that holder). skip: the new mapping publishes nothing.
func (pr *pendingRecord) reserved(ctx context.Context) (skip bool, err error) {
	for range maxRedo {
		err = pr.before(ctx)
		if !errors.Is(err, errReservedMeanwhile) || pr.redo == nil {
			return false, err
		}
		next, err := pr.redo(ctx)
		if err != nil || next == nil {
			return true, err
		}
		*pr = *next
		if pr.before == nil {
			return false, nil
		}
	}
	return false, err
}

// ackLoop is stage 2: a record's acks, then its state write.
func (q *ackQueue) ackLoop(ctx context.Context) {
	for pr := range q.published {
		if q.failed() != nil {
			q.finish()
			continue
		}
		if err := q.settle(ctx, pr); err != nil {
			q.fail(err)
			q.finish()
			continue
		}
		if pr.commitAsync != nil {
			if f, err := pr.commitAsync(); err == nil {
				pr.state = f
				q.stored <- pr
				continue
			}
		}
		q.commits <- pr
	}
}

// storeLoop is stage 3: the acks of state writes; a write that failed is repeated with a round trip.
func (q *ackQueue) storeLoop(ctx context.Context) {
	for pr := range q.stored {
		if q.failed() == nil {
			select {
			case <-pr.state.Ok():
			case <-pr.state.Err():
				if err := pr.commit(ctx); err != nil {
					q.fail(err)
				}
			case <-ctx.Done():
				q.fail(context.Cause(ctx))
			}
		}
		q.finish()
	}
}

// settle waits for a record's acks, republishing what failed.
func (q *ackQueue) settle(ctx context.Context, pr *pendingRecord) error {
	for i, f := range pr.futures {
		if f != nil {
			select {
			case <-f.Ok():
				continue
			case <-f.Err():
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		if err := q.republish(ctx, pr.msgs[i]); err != nil {
			return err
		}
	}
	return nil
}

// republish retries one message with back-off until JetStream acknowledges it. The same Nats-Msg-Id makes a
// retry of a publish that did arrive a no-op.
func (q *ackQueue) republish(ctx context.Context, m *nats.Msg) error {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := q.js.PublishMsg(cctx, m)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish %s (Msg-Id %s): %w", m.Subject, m.Header.Get(wire.MsgIDHeader), context.Cause(ctx))
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) || attempt < 50 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return fmt.Errorf("publish %s (Msg-Id %s): %w", m.Subject, m.Header.Get(wire.MsgIDHeader), context.Cause(ctx))
			}
			if delay < 5*time.Second {
				delay *= 2
			}
			continue
		}
		return fmt.Errorf("publish %s (Msg-Id %s) failed %d times: %w", m.Subject, m.Header.Get(wire.MsgIDHeader), attempt, err)
	}
}

// drainingCheckpoints makes a source's checkpoint writes wait until everything emitted before them is
// acknowledged and committed: a delta link must never get ahead of the messages it accounts for.
type drainingCheckpoints struct {
	Checkpoints
	drain func(context.Context) error
}

func (d drainingCheckpoints) Put(ctx context.Context, key string, value []byte) error {
	if err := d.drain(ctx); err != nil {
		return err
	}
	return d.Checkpoints.Put(ctx, key, value)
}
