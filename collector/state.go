package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// UserState is what the collector remembers about one source object between collections: the user exactly as it
// was last published (after dynamics, before per-channel pruning) and what each dynamic changed on it.
type UserState struct {
	// Key is the source key: the source id, or for HR the mapped userName.
	Key  string    `json:"key"`
	User scim.User `json:"user"`
	// Dynamics is the dynamics package's applied-state, kept opaque here so the state layout does not depend on
	// how dynamics records its changes.
	Dynamics json.RawMessage `json:"dynamics,omitempty"`
	// Gone marks a user of a full source (HR) who vanished from the source's result and was deactivated; a
	// reappearance is an ordinary change.
	Gone bool `json:"gone,omitempty"`
	// Revision is the KV revision the state was read at (not stored). It makes message ids of successive
	// changes differ even when a user flips back to an earlier value, while a retried publish of the same change
	// keeps its id.
	Revision uint64 `json:"-"`
}

// appendJSON appends json.Marshal(us) (the fast encoder: a collection stores every user it publishes).
func (us *UserState) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"key":`...)
	dst = wire.AppendJSONString(dst, us.Key)
	dst = append(dst, `,"user":`...)
	dst, err := wire.AppendJSON(dst, us.User)
	if err != nil {
		return dst, err
	}
	if len(us.Dynamics) > 0 {
		// json.Marshal compacts a RawMessage; it is stored as the dynamics package's own json.Marshal output,
		// which is compact already.
		dst = append(dst, `,"dynamics":`...)
		dst = append(dst, us.Dynamics...)
	}
	if us.Gone {
		dst = append(dst, `,"gone":true`...)
	}
	return append(dst, '}'), nil
}

// State is the collector's durable memory for one (tenant, collector type). It lives in a JetStream KV bucket in
// an internal account that no subscriber can join.
type State struct {
	kv jetstream.KeyValue
	// js publishes writes asynchronously (NewStateAsync); nil: every write is a round trip.
	js jetstream.JetStream
}

// NewState wraps a KV bucket (see broker's state buckets).
func NewState(kv jetstream.KeyValue) *State { return &State{kv: kv} }

// KV keys allow only [-/_=.a-zA-Z0-9]; source ids and attribute values allow anything, so they are hashed.
func hashKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func userKey(key string) string { return "user." + hashKey(key) }

// User returns the remembered state of a source object, or nil when it was never published.
func (s *State) User(ctx context.Context, key string) (*UserState, error) {
	return s.user(ctx, userKey(key), fmt.Sprintf("user %q", key))
}

func (s *State) user(ctx context.Context, k, what string) (*UserState, error) {
	var e jetstream.KeyValueEntry
	err := retry(ctx, func() (err error) { e, err = s.kv.Get(ctx, k); return err })
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: read %s: %w", s.kv.Bucket(), what, err)
	}
	var us UserState
	if err := json.Unmarshal(e.Value(), &us); err != nil {
		return nil, fmt.Errorf("state %s: %s: stored value is not valid JSON (%v); delete the key to republish the user", s.kv.Bucket(), what, err)
	}
	us.Revision = e.Revision()
	return &us, nil
}

// PutUser records what was published for a source object. Call it only after every message for the change was
// acknowledged by JetStream: a crash before this point republishes with the same message ids (de-duplicated).
func (s *State) PutUser(ctx context.Context, us *UserState) error {
	b, err := us.appendJSON(nil)
	if err != nil {
		return fmt.Errorf("state %s: encode user %q: %w", s.kv.Bucket(), us.Key, err)
	}
	if err := retry(ctx, func() error { _, err := s.kv.Put(ctx, userKey(us.Key), b); return err }); err != nil {
		return fmt.Errorf("state %s: write user %q: %w", s.kv.Bucket(), us.Key, err)
	}
	return nil
}

// DeleteUser forgets a source object after its deleteUser message was acknowledged.
func (s *State) DeleteUser(ctx context.Context, key string) error {
	if err := s.kv.Purge(ctx, userKey(key)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("state %s: delete user %q: %w", s.kv.Bucket(), key, err)
	}
	return nil
}

// Reserve implements the mapper's uniqueness registry: it claims value for owner under attribute when the value is
// free, and succeeds again when owner already holds it (so a repeated collection never burns a candidate).
// Values compare case-insensitively, as directory names such as UPNs and sAMAccountNames do. The claim is atomic
// across processes through the KV create-if-absent primitive. (A collection uses reservations, which answers
// from memory what this registry already said.)
func (s *State) Reserve(ctx context.Context, attribute, value, owner string) (bool, error) {
	holder, err := s.claim(ctx, reservationKey(uniqID{digestOf(attribute), digestOf(strings.ToLower(value))}), owner)
	if err != nil {
		return false, fmt.Errorf("state %s: reserve %s %q: %w", s.kv.Bucket(), attribute, value, err)
	}
	return holder == owner, nil
}

func reservationKey(id uniqID) string {
	return "uniq." + id.attribute.String() + "." + id.value.String()
}

// claim creates the reservation k for owner unless it exists, and returns who holds it. Reservations are never
// released, which is what lets reservations cache the answer.
//
// A create that timed out may still have happened: the retry then finds the key and reads owner in it.
func (s *State) claim(ctx context.Context, k, owner string) (string, error) {
	err := retry(ctx, func() error { _, err := s.kv.Create(ctx, k, []byte(owner)); return err })
	if err == nil {
		return owner, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", err
	}
	var e jetstream.KeyValueEntry
	if err := retry(ctx, func() (err error) { e, err = s.kv.Get(ctx, k); return err }); err != nil {
		return "", fmt.Errorf("read the existing reservation: %w", err)
	}
	return string(e.Value()), nil
}

// retry repeats a KV operation that failed for want of an answer (a timeout, no responders: a busy or restarting
// server), with back-off, up to about a minute; other errors and a cancelled collection end it at once. The
// state operations retried are idempotent: a put writes the same value again, a create that did happen is
// found by the next attempt.
func retry(ctx context.Context, op func() error) error {
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || ctx.Err() != nil || attempt == 12 || !transient(err) {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return err
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// Checkpoints returns the source's watermark space inside this state.
func (s *State) Checkpoints() Checkpoints { return checkpoints{s.kv} }

type checkpoints struct{ kv jetstream.KeyValue }

func (c checkpoints) key(k string) string { return "cp." + hashKey(k) }

func (c checkpoints) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := c.kv.Get(ctx, c.key(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: read checkpoint %q: %w", c.kv.Bucket(), key, err)
	}
	return e.Value(), nil
}

func (c checkpoints) Put(ctx context.Context, key string, value []byte) error {
	if _, err := c.kv.Put(ctx, c.key(key), value); err != nil {
		return fmt.Errorf("state %s: write checkpoint %q: %w", c.kv.Bucket(), key, err)
	}
	return nil
}
