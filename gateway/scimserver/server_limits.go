package scimserver

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// inFlight bounds the requests in work at once. A request beyond the bound is refused at once with 429 and
// Retry-After rather than queued: queued requests hold their memory and their client's patience, and a burst of
// 1,000 list requests must not take the gateway's memory with it.
type inFlight struct {
	slots   chan struct{}
	refused atomic.Int64
	lastLog atomic.Int64
}

func newInFlight(n int) *inFlight {
	if n < 0 {
		return nil
	}
	return &inFlight{slots: make(chan struct{}, n)}
}

// acquire takes a slot or answers 429.
func (f *inFlight) acquire(w http.ResponseWriter, log *slog.Logger) bool {
	if f == nil {
		return true
	}
	select {
	case f.slots <- struct{}{}:
		return true
	default:
	}
	n := f.refused.Add(1)
	// One line per 10 s at most: a flood of refusals must not become a flood of log lines.
	if now := time.Now().Unix(); f.lastLog.Load() <= now-10 {
		f.lastLog.Store(now)
		log.Warn("scim server busy: refusing requests with 429", "inFlight", cap(f.slots), "refusedSoFar", n)
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusTooManyRequests, "", "too many requests in progress: retry after 1 second")
	return false
}

func (f *inFlight) release() {
	if f != nil {
		<-f.slots
	}
}
