package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// stateSnapshot is what a collection knows of the state when it starts: every remembered user, read with one KV
// watcher (the bucket's latest values streamed in one go) instead of one Get round trip per record. The values
// are kept as the stored JSON and decoded only for the user being processed, so 100,000 users cost their encoded
// size, not that of decoded maps. A collection is the only writer of its users' state (collections of a tenant
// never overlap), so the snapshot stays true for every user until the collection itself changes it.
type stateSnapshot struct {
	users map[digest]storedUser
}

type storedUser struct {
	raw      []byte
	revision uint64
}

// take returns the remembered state of a user and removes it from the snapshot: what remains at the end of a
// full collection is what the source no longer returned.
func (s *stateSnapshot) take(id digest) (storedUser, bool) {
	su, ok := s.users[id]
	if ok {
		delete(s.users, id)
	}
	return su, ok
}

func (su storedUser) decode(bucket, what string) (*UserState, error) {
	var us UserState
	if err := json.Unmarshal(su.raw, &us); err != nil {
		return nil, fmt.Errorf("state %s: %s: stored value is not valid JSON (%v); delete the key to republish the user", bucket, what, err)
	}
	us.Revision = su.revision
	return &us, nil
}

// load reads the users and the unique-value reservations of the state in one pass.
func (s *State) load(ctx context.Context) (*stateSnapshot, *reservations, error) {
	snap := &stateSnapshot{users: map[digest]storedUser{}}
	res := newReservations(s)
	w, err := s.kv.WatchFiltered(ctx, []string{"user.>", "uniq.>"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, nil, fmt.Errorf("state %s: read users and reservations: %w", s.kv.Bucket(), err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("state %s: read users and reservations: %w", s.kv.Bucket(), context.Cause(ctx))
		case e, ok := <-w.Updates():
			if !ok {
				return nil, nil, fmt.Errorf("state %s: read users and reservations: the watcher stopped early (connection lost?); the collection is retried", s.kv.Bucket())
			}
			if e == nil {
				return snap, res, nil
			}
			k := e.Key()
			switch {
			case strings.HasPrefix(k, "user."):
				if id, ok := parseDigest(k[len("user."):]); ok {
					snap.users[id] = storedUser{raw: e.Value(), revision: e.Revision()}
				}
			case strings.HasPrefix(k, "uniq."):
				attr, value, ok := strings.Cut(k[len("uniq."):], ".")
				a, ok1 := parseDigest(attr)
				v, ok2 := parseDigest(value)
				if ok && ok1 && ok2 {
					res.learn(uniqID{a, v}, string(e.Value()))
				}
			}
		}
	}
}

// reservations is the collection's view of the unique-value registry: every reservation of the state, plus those
// learnt or made since. The KV stays the authority: a value absent here is claimed with the atomic KV Create; a
// value present here was granted by the KV to the owner recorded, and reservations are never released, so the
// answer "owner holds it" or "another owner holds it" needs no round trip. Safe for concurrent use.
type reservations struct {
	s      *State
	mu     sync.Mutex
	owners map[uniqID]string
	held   map[heldID]struct{}
	series mapper.Series
	attrs  map[string]digest
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
// taken only what this registry granted or refused), so when owner holds no value of the attribute at all, none
// of them is owner's and the whole taken run can be skipped.
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
