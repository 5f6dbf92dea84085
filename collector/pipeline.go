package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/dynamics"
	"github.com/scim-stream/scim-stream/mapper"
	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// Pipeline turns the records of one source into published messages: map → dynamics → diff against state →
// per-channel routing → publish → advance state. One Pipeline serves one (tenant, type); collections of the same
// pipeline never overlap (the scheduler runs them one after the other).
//
// A collection processes records on Workers goroutines, each reading the record's previous state, mapping and
// publishing while others wait for the KV: a Source must not change a Record's Data after emitting it.
type Pipeline struct {
	JS    jetstream.JetStream
	State *State
	Log   *slog.Logger
	// Now is the clock (tests inject one to move past start and end dates).
	Now     func() time.Time
	Metrics *Metrics
	// InFlight bounds the records whose messages await their JetStream ack (default 512). Publishing is
	// pipelined so that a collection of 100,000 users is not 100,000 round trips.
	InFlight int
	// Progress is how often a long collection logs its progress (default 5 s).
	Progress time.Duration
	// Workers is the number of records processed at the same time (default 8): enough to keep the CPUs busy
	// while some records wait for the KV to grant their unique values.
	Workers int
}

// Stats counts one collection.
type Stats struct {
	Seen, Changed, Published, Failed, Skipped int
	Full                                      bool
	Duration                                  time.Duration
	// Held is the number of leavers the mass-change guard held; Warning is a problem that did not fail the
	// collection but needs an operator (held leavers, an incomplete source): the runner mails it.
	Held    int
	Warning error
}

func (s Stats) String() string {
	return fmt.Sprintf("seen=%d changed=%d published=%d failed=%d skipped=%d full=%v duration=%s",
		s.Seen, s.Changed, s.Published, s.Failed, s.Skipped, s.Full, s.Duration.Round(time.Millisecond))
}

// Checkpoint keys of the pipeline itself (sources use their own names).
const (
	cpInitialLoad = "pipeline.initial-load-epoch"
	cpLastTotal   = "pipeline.last-total"
)

// ErrRecordFailed is counted, not returned: a record that cannot be mapped is logged and skipped, and retried at
// the next collection because its state was not advanced.
var ErrRecordFailed = errors.New("record failed")

// Collect runs one collection of src for tenant t. initialLoad republishes every user (those matching the
// tenant's do_initial_load_filter) even when unchanged. It returns when every message is acknowledged and the
// state is advanced, or with the first error that stops the collection (nothing is lost: the next collection
// repeats what was not acknowledged, with the same message ids).
func (p *Pipeline) Collect(ctx context.Context, t *Tenant, src Source, initialLoad bool) (Stats, error) {
	start := p.now()
	r := &collection{p: p, t: t, policy: src.Policy(), started: start, seen: map[digest]int{}}
	r.log = p.logger().With("tenant", t.Name, "type", string(t.Type))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.acks = newAckQueue(ctx, p.JS, p.inFlight(), func(err error) { cancel(err) })
	defer r.acks.stop()
	r.work = newWorkers(p.workers(), func(err error) { cancel(err) })
	defer r.work.stop()

	cp := p.State.Checkpoints()
	if initialLoad {
		epoch, err := cp.Get(ctx, cpInitialLoad)
		if err != nil {
			return r.stats, err
		}
		if len(epoch) == 0 {
			// The epoch is remembered until the initial load completes, so a restarted initial load keeps its
			// message ids and JetStream drops what was already published.
			epoch = []byte(start.UTC().Format(time.RFC3339Nano))
			if err := cp.Put(ctx, cpInitialLoad, epoch); err != nil {
				return r.stats, err
			}
		}
		r.epoch = string(epoch)
	}
	if b, _ := cp.Get(ctx, cpLastTotal); b != nil {
		_ = json.Unmarshal(b, &r.expected)
	}
	r.uniq = newReservations(p.State)
	var err error
	if r.known, err = p.State.hasUsers(ctx); err != nil {
		return r.stats, fmt.Errorf("%s tenant %q: collection: %w", t.Type.Key(), t.Name, err)
	}
	if err := r.streamWrites(ctx); err != nil {
		return r.stats, fmt.Errorf("%s tenant %q: collection: %w", t.Type.Key(), t.Name, err)
	}
	if err = r.startSafety(ctx); err != nil {
		return r.stats, fmt.Errorf("%s tenant %q: collection: %w", t.Type.Key(), t.Name, err)
	}

	var full bool
	full, err = src.Collect(ctx, drainingCheckpoints{cp, r.drain}, func(rec Record) error {
		return r.record(ctx, rec)
	})
	// An incomplete source publishes what it read, and nobody is a leaver.
	full, err = r.integrity(full, err)
	if err == nil {
		err = r.flush(ctx)
	}
	if err == nil {
		err = r.publishHeldBack(ctx)
	}
	// When the state had no user as the collection started, everybody in it now was seen by this collection:
	// nobody vanished, and the listing of every user (which makes the server read the whole bucket) is skipped.
	if err == nil && full && r.known {
		err = r.vanished(ctx)
		if err == nil {
			err = r.flush(ctx)
		}
	}
	if err == nil {
		err = r.finishSafety(ctx, src)
	}
	// No record is in a worker any more: the statistics are final.
	r.work.stop()
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	r.stats.Full = full
	r.stats.Duration = p.now().Sub(start)
	if err != nil {
		return r.stats, fmt.Errorf("%s tenant %q: collection: %w", t.Type.Key(), t.Name, err)
	}
	if initialLoad {
		if err := cp.Put(ctx, cpInitialLoad, nil); err != nil {
			return r.stats, err
		}
	}
	if full {
		b, _ := json.Marshal(r.stats.Seen)
		_ = cp.Put(ctx, cpLastTotal, b)
	}
	return r.stats, nil
}

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pipeline) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (p *Pipeline) workers() int {
	if p.Workers > 0 {
		return p.Workers
	}
	return 8
}

func (p *Pipeline) inFlight() int {
	if p.InFlight > 0 {
		return p.InFlight
	}
	return 512
}

// collection is the state of one Collect call.
type collection struct {
	p       *Pipeline
	t       *Tenant
	policy  Policy
	log     *slog.Logger
	started time.Time
	epoch   string
	// seen holds the state digests of the records of this collection, with their position (1-based).
	seen map[digest]int
	// known is false when the state had no user as the collection started: no record has a previous state.
	known    bool
	uniq     *reservations
	acks     *ackQueue
	work     *workers
	expected int
	lastLog  time.Time
	safety

	mu    sync.Mutex // guards stats: the workers count too
	stats Stats
}

// count updates the statistics.
func (r *collection) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// flush waits until every record emitted so far is processed, its messages acknowledged and its state stored.
func (r *collection) flush(ctx context.Context) error {
	if err := r.work.wait(ctx); err != nil {
		return err
	}
	return r.acks.drain(ctx)
}

// record takes one source record from the source and hands it to a worker. Mapping problems are counted and
// logged, not returned: the rest of the collection goes on.
func (r *collection) record(ctx context.Context, rec Record) error {
	var pos int
	r.count(func(s *Stats) { s.Seen++; pos = s.Seen })
	r.progress()
	key := recordKey(rec)
	if key == "" {
		r.unkeyed++ // it may be anybody: nobody is a leaver this time
		r.fail(rec, "", errors.New("the record has no id (no id, personIdExternal, userId or externalId attribute): map one or fix the collect query"))
		return nil
	}
	id := digestOf(key)
	if first, again := r.seen[id]; again && r.t.Type == wire.HR {
		return r.duplicate(key, first, pos)
	}
	if _, again := r.seen[id]; again {
		// The same object twice in one collection (a delta page can repeat one): its first change must be
		// acknowledged and stored before the second is diffed against it, with the revision it was stored at.
		if err := r.flush(ctx); err != nil {
			return err
		}
		prev, err := r.p.State.User(ctx, key)
		if err != nil {
			return err
		}
		return r.work.submit(ctx, func() error { return r.process(ctx, key, prev, rec) })
	}
	r.seen[id] = pos
	if r.knownDuplicate(key, rec) {
		return nil
	}
	return r.work.submit(ctx, func() error {
		// The previous state is read here, on the worker: the reads of several records overlap, and a
		// collection reads the state of the records it gets only (an incremental one, a handful).
		var prev *UserState
		if r.known {
			var err error
			if prev, err = r.p.State.User(ctx, key); err != nil {
				return err
			}
		}
		return r.process(ctx, key, prev, rec)
	})
}

// process maps one record and publishes its change (on a worker).
func (r *collection) process(ctx context.Context, key string, prev *UserState, rec Record) error {
	if rec.Removed {
		return r.removeGuarded(ctx, key, prev, rec)
	}
	user, err := r.t.Mapper.Map(ctx, rec.Data, mapper.Options{New: prev == nil, Owner: key, Unique: r.uniq, Now: r.p.now()})
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		r.fail(rec, key, err)
		return nil
	}
	if prev != nil {
		// onCreate attributes are computed once, for the create; later mappings do not produce them and must
		// not read as their removal.
		if oc, ok := prev.User["onCreate"]; ok {
			user["onCreate"] = oc
		}
	}
	if r.policy.Lifecycle && !lifecycle(user, r.p.now(), r.t.Config.General.HR.PreActivateDays) {
		// A future joiner: not published yet, and not remembered, so the day their activation comes the user is
		// published as a new one.
		r.count(func(s *Stats) { s.Skipped++ })
		return nil
	}
	return r.changeGuarded(ctx, key, prev, user, rec)
}

// change applies dynamics, routes and publishes the difference between prev and user.
func (r *collection) change(ctx context.Context, key string, prev *UserState, user scim.User, rec Record) error {
	var applied dynamics.Applied
	if prev != nil && len(prev.Dynamics) > 0 {
		if err := json.Unmarshal(prev.Dynamics, &applied); err != nil {
			r.log.Warn("stored dynamics state is unreadable; dynamics are re-evaluated from scratch", "user", key, "error", err)
			applied = dynamics.Applied{}
		}
	}
	user, applied = r.t.Dynamics.Apply(user, applied)
	if applied.Err != nil {
		return r.routingFailed(key, applied.Err)
	}
	appliedJSON, err := json.Marshal(applied)
	if err != nil {
		return fmt.Errorf("user %q: encode dynamics state: %w", key, err)
	}
	var prevUser scim.User
	var revision uint64
	if prev != nil {
		prevUser, revision = prev.User, prev.Revision
	}
	reload := r.epoch != "" && (r.t.InitialLoad == nil || r.t.InitialLoad.Match(user, r.fields(rec, wire.ModifyUser)))
	unchanged := prev != nil && !prev.Gone && scim.Equal(map[string]any(prevUser), map[string]any(user)) &&
		string(prev.Dynamics) == string(appliedJSON)
	if unchanged && !reload {
		return nil
	}
	if !unchanged {
		r.count(func(s *Stats) { s.Changed++ })
	}
	var msgs []*nats.Msg
	b := bodies{r: r, key: key, rec: rec}
	plans, err := PlanErr(r.t.Router, prevUser, user, r.fields(rec, wire.ModifyUser), reload)
	if err != nil {
		return r.routingFailed(key, err)
	}
	for _, pl := range plans {
		if !pl.Publish {
			continue
		}
		e, err := b.get(pl)
		if err != nil {
			return err
		}
		msgs = append(msgs, r.message(key, pl.Channel, pl.Op, revision, e))
	}
	next := &UserState{Key: key, User: user, Dynamics: appliedJSON}
	r.count(func(s *Stats) { s.Published += len(msgs) })
	return r.publish(ctx, key, r.userWrite(key, msgs, next, prev, rec))
}

// remove publishes deleteUser to every channel the user was published to, then forgets the user.
func (r *collection) remove(ctx context.Context, key string, prev *UserState, rec Record) error {
	if prev == nil {
		return nil
	}
	r.count(func(s *Stats) { s.Changed++ })
	var msgs []*nats.Msg
	b := bodies{r: r, key: key, rec: rec}
	plans, err := PlanErr(r.t.Router, prev.User, nil, r.fields(rec, wire.DeleteUser), false)
	if err != nil {
		return r.routingFailed(key, err)
	}
	for _, pl := range plans {
		if !pl.Publish {
			continue
		}
		e, err := b.get(pl)
		if err != nil {
			return err
		}
		msgs = append(msgs, r.message(key, pl.Channel, pl.Op, prev.Revision, e))
	}
	r.count(func(s *Stats) { s.Published += len(msgs) })
	return r.queue(ctx, &pendingRecord{msgs: msgs, commit: func(ctx context.Context) error { return r.p.State.DeleteUser(ctx, key) }})
}

// vanished handles the users a full collection did not return. An Entra full resync that no longer lists a user
// means the user was deleted during the gap; an HR system that no longer lists a person means they left, and
// leavers are deactivated (never deleted: a wrong HR query must not wipe accounts). A full collection that
// returned nothing at all is treated as a source problem, not as everybody leaving.
func (r *collection) vanished(ctx context.Context) error {
	if len(r.seen) == 0 {
		n := 0
		_ = r.p.State.userIDs(ctx, func(digest) error { n++; return nil })
		if n > 0 {
			r.log.Warn("the source returned no users at all; nobody is treated as a leaver (check the collect query)", "known_users", n)
		}
		return nil
	}
	return r.p.State.userIDs(ctx, func(id digest) error {
		if _, ok := r.seen[id]; ok {
			return nil
		}
		return r.work.submit(ctx, func() error {
			us, err := r.p.State.userByID(ctx, id)
			if err != nil || us == nil {
				return err
			}
			if r.policy.Leavers == LeaversDeleted {
				return r.removeGuarded(ctx, us.Key, us, Record{ID: us.Key, Removed: true})
			}
			if us.Gone {
				return nil
			}
			user := us.User.Clone()
			user["active"] = false
			return r.changeGuarded(ctx, us.Key, us, user, Record{ID: us.Key})
		})
	})
}

// bodies encodes the messages of one change. rules.Router hands out one map per distinct view of a user, so
// channels whose rules keep the same groups and roles get the same previous and current maps, hence the same
// operations and the same message body: those are encoded once per change, not once per channel.
type bodies struct {
	r    *collection
	key  string
	rec  Record
	when string
	done []*encoded
}

// encoded is a message body and the encodings its message id hashes.
type encoded struct {
	op                      string
	prev, cur               uintptr // map identities
	prevJSON, curJSON, body []byte
}

var jsonNull = []byte("null")

func (b *bodies) get(pl Planned) (*encoded, error) {
	op, prev, cur := pl.Op, pl.Previous, pl.Current
	pid, cid := mapID(prev), mapID(cur)
	for _, e := range b.done {
		if e.op == op && e.prev == pid && e.cur == cid {
			return e, nil
		}
	}
	if b.when == "" {
		when := b.rec.ActivityDateTime
		if when.IsZero() {
			when = b.r.p.now()
		}
		b.when = when.UTC().Format(time.RFC3339Nano)
	}
	m := pl.Message(About{TargetID: b.key, ActivityDateTime: b.when, InitiatedByID: b.rec.InitiatedByID, InitiatedByUPN: b.rec.InitiatedByUPN})
	e := &encoded{op: op, prev: pid, cur: cid}
	// Each view is encoded once, for the message id and for the body: the body's user is the view the id
	// hashes, sliced out of it.
	body, at, err := wire.AppendMessage(make([]byte, 0, 3072), &m, nil)
	if err != nil {
		return nil, fmt.Errorf("user %q: encode message: %w", b.key, err)
	}
	e.body = body
	// The other view is nil (a create's previous user, a delete's current one) or a change's previous user.
	other, otherView := &e.prevJSON, prev
	if op == wire.DeleteUser {
		e.prevJSON = body[at : len(body)-1]
		other, otherView = &e.curJSON, cur
	} else {
		e.curJSON = body[at : len(body)-1]
	}
	if otherView == nil {
		*other = jsonNull
	} else if *other, err = wire.AppendJSON(nil, otherView); err != nil {
		return nil, fmt.Errorf("user %q: encode the previous user: %w", b.key, err)
	}
	b.done = append(b.done, e)
	return e, nil
}

// message builds one stream message with its headers. Channels may share e.body: messages are never changed
// after they are built.
func (r *collection) message(key, channel, op string, revision uint64, e *encoded) *nats.Msg {
	id := messageID(r.t, channel, key, op, revision, r.epoch, e.prevJSON, e.curJSON)
	msg := nats.NewMsg(wire.Subject(r.t.Type, channel))
	msg.Data = e.body
	// Msg-Id is what the SCIM Gateway reads (a message without it is dropped); Nats-Msg-Id makes JetStream
	// de-duplicate a republished change.
	msg.Header.Set(wire.MsgIDHeader, id)
	msg.Header.Set(wire.NatsMsgIDHeader, id)
	return msg
}

func (r *collection) fields(rec Record, op string) rules.Fields {
	return rules.Fields{
		"activityOperation": op,
		"initiatedById":     rec.InitiatedByID,
		"initiatedByUpn":    rec.InitiatedByUPN,
	}
}

func (r *collection) fail(rec Record, key string, err error) {
	r.uniq.forget(key)
	r.count(func(s *Stats) { s.Failed++ })
	if r.p.Metrics != nil {
		r.p.Metrics.failed(r.t)
	}
	r.log.Error("record skipped; it is retried at the next collection", "user", key, "error", err)
}

// progress logs a line at most every Progress interval once a collection passed 1,000 records.
func (r *collection) progress() {
	r.mu.Lock()
	seen, published := r.stats.Seen, r.stats.Published
	r.mu.Unlock()
	if seen < 1000 {
		return
	}
	every := r.p.Progress
	if every <= 0 {
		every = 5 * time.Second
	}
	now := time.Now()
	if r.lastLog.IsZero() {
		r.lastLog = now
		return
	}
	if now.Sub(r.lastLog) < every {
		return
	}
	r.lastLog = now
	elapsed := now.Sub(r.started).Seconds()
	rate := float64(seen) / elapsed
	attrs := []any{"records", seen, "per_second", int(rate), "published", published}
	if r.expected > seen && rate > 0 {
		attrs = append(attrs, "eta", (time.Duration(float64(r.expected-seen)/rate) * time.Second).Round(time.Second))
	}
	r.log.Info("collecting", attrs...)
}

// recordKey is the state key of a record: the source id, or an id-like attribute of the raw record for HR
// systems whose query does not name one.
func recordKey(rec Record) string {
	if rec.ID != "" {
		return rec.ID
	}
	for _, k := range []string{"id", "personIdExternal", "userId", "externalId", "employeeId"} {
		switch v := rec.Data[k].(type) {
		case string:
			if v != "" {
				return v
			}
		case float64:
			return fmt.Sprint(v)
		}
	}
	return ""
}
