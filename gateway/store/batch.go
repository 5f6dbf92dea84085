package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
)

// batchKey finds a Store's batch transaction in a context.
type batchKey struct{ s *Store }

// batch is one write transaction shared by every store call made with its context.
type batch struct {
	tx *bolt.Tx
	// broken is the first write that failed inside the batch for another reason than a gateway sentinel (a bbolt
	// error): it may have left part of its changes in the transaction, so the batch must not be committed (Batch
	// rolls it back and returns the error). Writes check before they write, so a sentinel error (a userName
	// taken, a member that does not exist) leaves the transaction as it was and the batch goes on.
	broken error
}

var _ endpoint.Batcher = (*Store)(nil)

// Batch implements endpoint.Batcher: fn's store calls (made with the context it gets) share one bbolt write
// transaction, committed (one fsync) when fn returns nil. When fn fails, or a write inside it failed, nothing
// of it is kept. The subscriber applies a pulled batch of messages this way: one durable write instead of two
// per message.
func (s *Store) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store %s: %w: %w", s.path, endpoint.ErrUnavailable, err)
	}
	if _, nested := ctx.Value(batchKey{s}).(*batch); nested {
		return fn(ctx)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return fmt.Errorf("store %s: suspended or closed: %w", s.path, endpoint.ErrUnavailable)
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("store %s: %w: %w", s.path, endpoint.ErrUnavailable, err)
	}
	b := &batch{tx: tx}
	err = fn(context.WithValue(ctx, batchKey{s}, b))
	if err == nil && b.broken != nil {
		err = fmt.Errorf("store %s: a write in the batch failed, the batch is rolled back: %w", s.path, b.broken)
	}
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store %s: commit: %w: %w", s.path, endpoint.ErrUnavailable, err)
	}
	return nil
}

// inBatch runs fn in ctx's batch transaction, if ctx carries one of this store. It must not take s.mu again:
// Batch holds it shared, and a second shared lock waits behind a pending Suspend (a deadlock).
func (s *Store) inBatch(ctx context.Context, write bool, fn func(tx *bolt.Tx) error) (error, bool) {
	b, ok := ctx.Value(batchKey{s}).(*batch)
	if !ok {
		return nil, false
	}
	if b.broken != nil {
		return fmt.Errorf("store %s: an earlier write in the batch failed: %w", s.path, b.broken), true
	}
	err := fn(b.tx)
	if err != nil && write && !isSentinel(err) {
		b.broken = err
	}
	return err, true
}
