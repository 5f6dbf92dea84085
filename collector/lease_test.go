package collector

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/wire"
)

// shortLease makes the lease timings short for a test and restores them after.
func shortLease(t *testing.T) {
	ttl, renew := LeaseTTL, LeaseRenew
	LeaseTTL, LeaseRenew = 600*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { LeaseTTL, LeaseRenew = ttl, renew })
}

// TestLeaseTakeoverFencesTheStaleHolder: node a holds the lease and stops renewing (a paused process); b takes it
// over only after a's fence closed, and a, coming back, can neither renew, write state nor publish.
func TestLeaseTakeoverFencesTheStaleHolder(t *testing.T) {
	shortLease(t)
	ctx := context.Background()
	kv := newTestKV(t)
	log := slog.New(slog.DiscardHandler)
	a := newLease(kv, "acme", wire.HR, "a", log)
	b := newLease(kv, "acme", wire.HR, "b", log)
	var aRev, bRev uint64
	var aAt, bAt time.Time
	var aPrev, bPrev string
	a.tryTake(ctx, &aRev, &aAt, &aPrev)
	if !a.Held() {
		t.Fatal("a did not take a free lease")
	}
	a.renew(ctx)
	if !a.Held() {
		t.Fatal("a lost its lease on renewal")
	}
	b.tryTake(ctx, &bRev, &bAt, &bPrev)
	if b.Held() {
		t.Fatal("b took a lease a holds")
	}
	// a stops renewing. b keeps observing; it must not take over before LeaseTTL of an unchanged revision, and
	// a's fence must be closed before b takes over.
	start := time.Now()
	for !b.Held() {
		if time.Since(start) > 10*LeaseTTL {
			t.Fatal("b never took the lapsed lease over")
		}
		b.tryTake(ctx, &bRev, &bAt, &bPrev)
		if b.Held() && a.Fence() == nil {
			t.Fatal("both a and b may act: a's fence was still open when b took over")
		}
		time.Sleep(LeaseRenew / 2)
	}
	if took := time.Since(start); took < LeaseTTL {
		t.Fatalf("b took over after %v, before the lease time %v", took, LeaseTTL)
	}
	// a comes back: its renewal is refused by revision and it stays fenced.
	a.held, a.validUntil = true, time.Now().Add(time.Hour) // as if a's clock had not noticed the pause
	a.renew(ctx)
	if a.Held() {
		t.Fatal("a renewed a lease b took over")
	}
	fkv := fencedKV{kv, a.Fence}
	if _, err := fkv.Put(ctx, "user.x", []byte("{}")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale holder's state write: %v, want ErrLeaseLost", err)
	}
	if _, err := fkv.Create(ctx, "uniq.x", []byte("a")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale holder's reservation: %v, want ErrLeaseLost", err)
	}
	fjs := fencedJS{nil, a.Fence}
	if _, err := fjs.PublishMsgAsync(nil); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale holder's publish: %v, want ErrLeaseLost", err)
	}
	if _, err := kv.Get(ctx, "user.x"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the stale holder's write reached the bucket: %v", err)
	}
	// b goes on renewing.
	b.renew(ctx)
	if !b.Held() {
		t.Fatal("b lost the lease on renewal")
	}
}

// TestLeaseReleasedAtShutdown: a holder that stops cleanly gives the lease up, and another node takes it at once.
func TestLeaseReleasedAtShutdown(t *testing.T) {
	shortLease(t)
	kv := newTestKV(t)
	log := slog.New(slog.DiscardHandler)
	a := newLease(kv, "acme", wire.Entra, "a", log)
	b := newLease(kv, "acme", wire.Entra, "b", log)
	actx, stopA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { a.run(actx); close(doneA) }()
	waitHeld(t, a)
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	go b.run(bctx)
	time.Sleep(2 * LeaseTTL)
	if b.Held() || !a.Held() {
		t.Fatalf("while a renews: a held %v, b held %v", a.Held(), b.Held())
	}
	stopA()
	<-doneA
	start := time.Now()
	waitHeld(t, b)
	if took := time.Since(start); took >= LeaseTTL {
		t.Fatalf("b took a released lease after %v: it waited for the lease time", took)
	}
}

func waitHeld(t *testing.T, l *Lease) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !l.Held(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s never took the lease", l.node)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
