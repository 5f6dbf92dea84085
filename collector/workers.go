package collector

import (
	"context"
	"sync"
)

// workers processes the records of a collection on several goroutines. Mapping a new user waits for KV round
// trips (the atomic create of each unique value it gets) and the rest is CPU work (dynamics, routing, encoding);
// done one record after the other, a collection of 100,000 users spends most of its time waiting. Records are
// independent of each other: the only shared decisions, unique values, are made atomic by the KV, and a record
// whose key repeats within a collection is held back until everything before it is done (collection.record).
type workers struct {
	jobs    chan func() error
	onError func(error)
	wg      sync.WaitGroup
	once    sync.Once

	mu      sync.Mutex
	err     error
	pending int
	waiters []chan struct{}
}

func newWorkers(n int, onError func(error)) *workers {
	w := &workers{jobs: make(chan func() error, n), onError: onError}
	for range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for f := range w.jobs {
				if w.failed() == nil {
					if err := f(); err != nil {
						w.fail(err)
					}
				}
				w.finish()
			}
		}()
	}
	return w
}

// submit queues f; it blocks while every worker is busy and the queue is full. It returns the first error of an
// earlier job.
func (w *workers) submit(ctx context.Context, f func() error) error {
	if err := w.failed(); err != nil {
		return err
	}
	w.mu.Lock()
	w.pending++
	w.mu.Unlock()
	select {
	case w.jobs <- f:
		return nil
	case <-ctx.Done():
		w.finish()
		return context.Cause(ctx)
	}
}

// wait returns when every submitted job has finished, with the first error of any.
func (w *workers) wait(ctx context.Context) error {
	w.mu.Lock()
	if w.pending == 0 || w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	c := make(chan struct{})
	w.waiters = append(w.waiters, c)
	w.mu.Unlock()
	select {
	case <-c:
		return w.failed()
	case <-ctx.Done():
		if err := w.failed(); err != nil {
			return err
		}
		return context.Cause(ctx)
	}
}

// stop ends the workers after the jobs already queued (after an error these return at once). Calling it again
// is a no-op.
func (w *workers) stop() {
	w.once.Do(func() {
		close(w.jobs)
		w.wg.Wait()
	})
}

func (w *workers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *workers) fail(err error) {
	w.mu.Lock()
	first := w.err == nil
	if first {
		w.err = err
	}
	w.mu.Unlock()
	if first {
		w.onError(err)
	}
}

func (w *workers) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending--
	if w.pending == 0 || w.err != nil {
		for _, c := range w.waiters {
			close(c)
		}
		w.waiters = nil
	}
}
