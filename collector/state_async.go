package collector

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NewStateAsync is NewState whose writes are published asynchronously: js must be a JetStream context of the
// connection kv was opened with (the bucket's subjects, $KV.<bucket>.<key>, are published to directly). A
// collection then writes users' state and unique-value reservations as a stream with a window of acks, and
// answers reservations of an initial load from memory.
func NewStateAsync(kv jetstream.KeyValue, js jetstream.JetStream) *State {
	return &State{kv: kv, js: js}
}

// stateJetStream is implemented by brokers that expose the state account's JetStream context (broker.Broker).
type stateJetStream interface {
	StateJetStream() (jetstream.JetStream, error)
}

// kvMsg is a write of value to key in the state bucket, as KeyValue.Put publishes it. With create, JetStream
// stores it only if the key was never written (KeyValue.Create's check): a reservation made by another process
// meanwhile fails it instead of being overwritten.
func (s *State) kvMsg(key string, value []byte, create bool) *nats.Msg {
	m := nats.NewMsg("$KV." + s.kv.Bucket() + "." + key)
	m.Data = value
	if create {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	}
	return m
}

// putUserAsync publishes a user's state and returns the ack to wait for; nil with an error when it could not be
// sent (the caller writes it synchronously instead).
func (s *State) putUserAsync(us *UserState) (jetstream.PubAckFuture, error) {
	b, err := us.appendJSON(nil)
	if err != nil {
		return nil, fmt.Errorf("state %s: encode user %q: %w", s.kv.Bucket(), us.Key, err)
	}
	return s.js.PublishMsgAsync(s.kvMsg(userKey(us.Key), b, false))
}

// reservedKeys lists the reservations the state holds (keys only: their owners are read when needed).
func (s *State) reservedKeys(ctx context.Context, f func(uniqID)) error {
	w, err := s.kv.WatchFiltered(ctx, []string{"uniq.>"}, jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return fmt.Errorf("state %s: list reservations: %w", s.kv.Bucket(), err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("state %s: list reservations: %w", s.kv.Bucket(), context.Cause(ctx))
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("state %s: list reservations: the watcher stopped early (connection lost?); the collection is retried", s.kv.Bucket())
			}
			if e == nil {
				return nil
			}
			if id, ok := parseReservationKey(e.Key()); ok {
				f(id)
			}
		}
	}
}

// parseReservationKey reverses reservationKey.
func parseReservationKey(k string) (uniqID, bool) {
	const prefix = "uniq."
	n := 2 * len(digest{})
	if len(k) != len(prefix)+n+1+n || k[:len(prefix)] != prefix || k[len(prefix)+n] != '.' {
		return uniqID{}, false
	}
	a, ok1 := parseDigest(k[len(prefix) : len(prefix)+n])
	v, ok2 := parseDigest(k[len(prefix)+n+1:])
	return uniqID{a, v}, ok1 && ok2
}
