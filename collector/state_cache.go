package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/mapper"
)

// digest is a decoded hashKey: state keys are kept in memory as 16 bytes rather than as their 32-character text.
type digest [16]byte

// digestOf is hashKey(s), decoded.
func digestOf(s string) digest {
	sum := sha256.Sum256([]byte(s))
	return digest(sum[:16])
}

func (d digest) String() string { return hex.EncodeToString(d[:]) }

func parseDigest(s string) (digest, bool) {
	var d digest
	if len(s) != 2*len(d) {
		return d, false
	}
	_, err := hex.Decode(d[:], []byte(s))
	return d, err == nil
}

// hasUsers reports whether the state remembers any user. A collection into a state that has none (the first
// one of a tenant) skips the read of each record's previous state: there is none to find.
func (s *State) hasUsers(ctx context.Context) (bool, error) {
	found := false
	err := s.userIDs(ctx, func(digest) error {
		found = true
		return errStopListing
	})
	if errors.Is(err, errStopListing) {
		err = nil
	}
	return found, err
}

var errStopListing = errors.New("stop listing")

// userIDs calls f with the digest of every remembered user, from one KV watcher that carries no values (the
// users a full collection did not see are found without reading everybody's state).
func (s *State) userIDs(ctx context.Context, f func(digest) error) error {
	w, err := s.kv.WatchFiltered(ctx, []string{"user.>"}, jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return fmt.Errorf("state %s: list users: %w", s.kv.Bucket(), err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("state %s: list users: %w", s.kv.Bucket(), context.Cause(ctx))
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("state %s: list users: the watcher stopped early (connection lost?); the collection is retried", s.kv.Bucket())
			}
			if e == nil {
				return nil
			}
			if id, ok := parseDigest(strings.TrimPrefix(e.Key(), "user.")); ok {
				if err := f(id); err != nil {
					return err
				}
			}
		}
	}
}

// userByID reads a user's state by its digest (the users a full collection did not see have no source key).
func (s *State) userByID(ctx context.Context, id digest) (*UserState, error) {
	return s.user(ctx, "user."+id.String(), "user."+id.String())
}

// reservations is the collection's memory of the unique-value registry: the reservations it made or met. The KV
// stays the authority: a value absent here is claimed with the atomic KV Create (which tells who holds it when
// it is taken); a value present here was granted by the KV to the owner recorded, and reservations are never
// released, so the answer "owner holds it" or "another owner holds it" needs no second round trip. It starts
// empty: reading every reservation of a large tenant for each collection would cost more than the few joiners of
// an ordinary collection save, and within one collection the Resumer bookkeeping makes the n-th namesake start
// where the previous one stopped. Safe for concurrent use.
type reservations struct {
	s      *State
	mu     sync.Mutex
	owners map[uniqID]string
	held   map[heldID]struct{}
	series mapper.Series
	attrs  map[string]digest
	// taken, when set, answers from memory (streamFromMemory): the reservations the state held as the
	// collection started; granted are those granted from memory since, per owner, until their writes are awaited.
	taken   map[uniqID]struct{}
	granted map[string][]*pendingReservation
}

type uniqID struct{ attribute, value digest }

// heldID says that owner holds some value of attribute.
type heldID struct {
	attribute digest
	owner     string
}

func newReservations(s *State) *reservations {
	return &reservations{s: s, owners: map[uniqID]string{}, held: map[heldID]struct{}{}, series: mapper.Series{},
		attrs: map[string]digest{}}
}

// learn records a reservation the KV granted. Callers hold mu or own r exclusively.
func (r *reservations) learn(id uniqID, owner string) {
	r.owners[id] = owner
	r.held[heldID{id.attribute, owner}] = struct{}{}
}

func (r *reservations) attribute(name string) digest {
	d, ok := r.attrs[name]
	if !ok {
		d = digestOf(name)
		r.attrs[name] = d
	}
	return d
}

// Reserve implements mapper.Uniqueness: from memory when the holder is known, with the KV's atomic create
// otherwise.
func (r *reservations) Reserve(ctx context.Context, attribute, value, owner string) (bool, error) {
	r.mu.Lock()
	id := uniqID{r.attribute(attribute), digestOf(strings.ToLower(value))}
	holder, known := r.owners[id]
	r.mu.Unlock()
	if known {
		return holder == owner, nil
	}
	if granted, ok := r.grant(id, attribute, value, owner); ok {
		return granted, nil
	}
	holder, err := r.s.claim(ctx, reservationKey(id), owner)
	if err != nil {
		return false, fmt.Errorf("state %s: reserve %s %q: %w", r.s.kv.Bucket(), attribute, value, err)
	}
	r.mu.Lock()
	r.learn(id, holder)
	r.mu.Unlock()
	return holder == owner, nil
}

// Resume implements mapper.Resumer. Every taken value of a series has a holder known here (the mapper reports as
// taken only what this registry granted or refused), so when owner holds no value of the attribute known here,
// none of them is owner's and the whole taken run can be skipped. (A value owner holds beyond the run is found
// by the walk from there on.)
func (r *reservations) Resume(attribute, first, owner string) (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.held[heldID{r.attribute(attribute), owner}]; ok {
		return 0, ""
	}
	return r.series.Resume(attribute, first)
}

// Taken implements mapper.Resumer.
func (r *reservations) Taken(attribute, first string, attempt int, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.series.Taken(attribute, first, attempt, value)
}
