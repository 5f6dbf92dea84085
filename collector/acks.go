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
// Commits (state writes, one KV round trip each) run on several goroutines: acknowledged records do not wait for
// each other's state writes, whose order does not matter (a record's own write still follows its acks, and a
// drain waits for all of them).
type ackQueue struct {
	js      jetstream.JetStream
	pending chan *pendingRecord
	commits chan *pendingRecord
	done    chan struct{}
	onError func(error)

	mu      sync.Mutex
	err     error
	waiters []chan struct{}
	queued  int
}

type pendingRecord struct {
	msgs    []*nats.Msg
	futures []jetstream.PubAckFuture
	commit  func(context.Context) error
}

// committers is the number of concurrent state writes: enough to keep the KV busy while round trips are in flight.
const committers = 16

func newAckQueue(ctx context.Context, js jetstream.JetStream, window int, onError func(error)) *ackQueue {
	q := &ackQueue{js: js, pending: make(chan *pendingRecord, window), commits: make(chan *pendingRecord, window),
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
	go func() {
		q.loop(ctx)
		close(q.commits)
		wg.Wait()
		close(q.done)
	}()
	return q
}

// add publishes msgs and queues commit to run after their acks. It blocks when the window is full.
func (q *ackQueue) add(ctx context.Context, msgs []*nats.Msg, commit func(context.Context) error) error {
	if err := q.failed(); err != nil {
		return err
	}
	pr := &pendingRecord{msgs: msgs, commit: commit}
	for _, m := range msgs {
		f, err := q.js.PublishMsgAsync(m)
		if err != nil {
			// Too many pending or disconnected: the loop republishes synchronously.
			f = nil
		}
		pr.futures = append(pr.futures, f)
	}
	q.mu.Lock()
	q.queued++
	q.mu.Unlock()
	select {
	case q.pending <- pr:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
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

func (q *ackQueue) loop(ctx context.Context) {
	for pr := range q.pending {
		if q.failed() == nil {
			if err := q.settle(ctx, pr); err != nil {
				q.fail(err)
			} else {
				q.commits <- pr
				continue
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
