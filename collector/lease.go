package collector

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/wire"
)

// One active collector per (tenant, type) across a cluster: before collecting, a runner takes the (tenant, type)'s
// lease, a key of a replicated KV bucket, and renews it while it runs. Another node takes the lease over when it
// lapses: when the key's revision has not changed for LeaseTTL as that node observed it (no clocks compared
// between nodes), by a compare-and-set on that revision.
//
// Fencing: a holder may publish and write state only while (a) its last renewal — itself a compare-and-set on the
// revision it wrote before — succeeded, and (b) less than LeaseTTL/2 has passed on its own clock since it sent
// that renewal. A taker waits a full LeaseTTL after it first saw the last revision, which is after that renewal
// was sent, so a stale holder (a paused or partitioned process coming back) has stopped before anyone takes over:
// its JetStream publishes and KV writes are refused by the fence (fencedJS, fencedKV) and its collection is
// cancelled. Deterministic Msg-Ids remain the last line: a republished change is de-duplicated by JetStream.

// LeaseBroker is what a broker offers when several processes may share its state (cluster mode, or an external
// server): the lease bucket and this process's node name.
type LeaseBroker interface {
	LeaseKV(ctx context.Context) (jetstream.KeyValue, error)
	Node() string
	Clustered() bool
}

// Lease timings. Renewals every LeaseRenew keep the lease; a holder stops acting LeaseTTL/2 after its last
// successful renewal was sent; a taker waits LeaseTTL of an unchanged revision.
var (
	LeaseTTL   = 6 * time.Second
	LeaseRenew = time.Second
)

// ErrLeaseLost fences a collector that no longer holds its (tenant, type)'s lease.
var ErrLeaseLost = errors.New("this node no longer holds the collector lease of this tenant and type (another node collects it)")

// leaseValue is what the lease key holds: who holds it, for operators reading the bucket.
type leaseValue struct {
	Holder  string    `json:"holder"`
	Node    string    `json:"node"`
	Renewed time.Time `json:"renewed"`
}

// Lease is one (tenant, type)'s lease as seen by this process.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	node   string
	holder string // node + instance: a restarted node is a new holder and waits like any other
	log    *slog.Logger
	// onChange is told about every change of this process's leadership (metrics).
	onChange func(held bool)

	mu         sync.Mutex
	held       bool
	rev        uint64
	validUntil time.Time // monotonic: the fence
	term       context.CancelFunc
	termCtx    context.Context
	gained     chan struct{}
}

// newLease prepares the lease of (tenant, typ) in kv for this node.
func newLease(kv jetstream.KeyValue, tenant string, typ wire.Type, node string, log *slog.Logger) *Lease {
	if node == "" {
		node, _ = os.Hostname()
	}
	return &Lease{kv: kv, key: string(typ) + "." + tenant, node: node, holder: node + "/" + rand.Text()[:10], log: log,
		gained: make(chan struct{}, 1)}
}

// Fence is nil while this process holds the lease and may publish and write state.
func (l *Lease) Fence() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held && time.Now().Before(l.validUntil) {
		return nil
	}
	return ErrLeaseLost
}

// Held reports whether this process holds the lease now.
func (l *Lease) Held() bool { return l != nil && l.Fence() == nil }

// Gained is signalled when this process takes the lease (nil for no lease: never).
func (l *Lease) Gained() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.gained
}

// Term returns a context that ends when this lease term ends (lost or lapsed) and whether the lease is held;
// call cancel when done with it.
func (l *Lease) Term(ctx context.Context) (c context.Context, cancel context.CancelFunc, held bool) {
	if l == nil {
		return ctx, func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held || l.termCtx == nil || !time.Now().Before(l.validUntil) {
		return ctx, func() {}, false
	}
	c, cancelC := context.WithCancel(ctx)
	stop := context.AfterFunc(l.termCtx, cancelC)
	return c, func() { stop(); cancelC() }, true
}

// run takes, renews and releases the lease until ctx ends.
func (l *Lease) run(ctx context.Context) {
	var seenRev uint64
	var seenAt time.Time
	var prevHolder string
	t := time.NewTicker(LeaseRenew / 2)
	defer t.Stop()
	for {
		if l.Held() {
			l.renew(ctx)
		} else {
			l.lapse("the lease lapsed: its last renewal is older than half the lease time")
			l.tryTake(ctx, &seenRev, &seenAt, &prevHolder)
		}
		select {
		case <-ctx.Done():
			l.release()
			return
		case <-t.C:
		}
	}
}

func (l *Lease) value() []byte {
	b, _ := json.Marshal(leaseValue{Holder: l.holder, Node: l.node, Renewed: time.Now().UTC()})
	return b
}

// tryTake creates the lease when nobody holds it, or takes it over when its revision stood still for LeaseTTL.
func (l *Lease) tryTake(ctx context.Context, seenRev *uint64, seenAt *time.Time, prevHolder *string) {
	rctx, cancel := context.WithTimeout(ctx, LeaseRenew)
	defer cancel()
	sent := time.Now()
	e, err := l.kv.Get(rctx, l.key)
	var rev uint64
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		rev, err = l.kv.Create(rctx, l.key, l.value())
		if err == nil {
			l.gain(rev, sent, "nobody held it", *prevHolder, 0)
		}
		return
	case err != nil:
		return // the bucket is unavailable (election in progress): keep observing
	}
	// A value that does not decode only costs the previous holder's name in the log lines: ownership is decided by
	// the revision (compare-and-set), never by the value.
	var v leaseValue
	_ = json.Unmarshal(e.Value(), &v)
	l.mu.Lock()
	mine := v.Holder == l.holder && e.Revision() == l.rev
	l.mu.Unlock()
	if mine {
		// This process's own term lapsed (renewals timed out during an election) and nobody wrote since: it may
		// continue at once, by compare-and-set on its own revision.
		sent = time.Now()
		if rev, err = l.kv.Update(rctx, l.key, l.value(), e.Revision()); err == nil {
			l.gain(rev, sent, "renewed after its renewals had failed", "", 0)
		}
		return
	}
	if e.Revision() != *seenRev {
		*seenRev, *seenAt, *prevHolder = e.Revision(), time.Now(), v.Holder
		return
	}
	if waited := time.Since(*seenAt); waited >= LeaseTTL {
		sent = time.Now()
		if rev, err = l.kv.Update(rctx, l.key, l.value(), e.Revision()); err == nil {
			l.gain(rev, sent, "the holder stopped renewing", v.Holder, waited)
		}
	}
}

// renew extends the lease by a compare-and-set on the revision this process wrote last.
func (l *Lease) renew(ctx context.Context) {
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, LeaseRenew)
	defer cancel()
	sent := time.Now()
	nrev, err := l.kv.Update(rctx, l.key, l.value(), rev)
	if err == nil {
		l.mu.Lock()
		l.rev, l.validUntil = nrev, sent.Add(LeaseTTL/2)
		l.mu.Unlock()
		return
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || errors.Is(err, jetstream.ErrKeyExists) ||
		strings.Contains(err.Error(), "wrong last sequence") {
		l.lapse("another node took the lease over (its revision changed)")
	}
	// Other errors (time-outs during an election): the lease lapses by itself if they last.
}

func (l *Lease) gain(rev uint64, sent time.Time, why, prev string, waited time.Duration) {
	l.mu.Lock()
	l.held, l.rev, l.validUntil = true, rev, sent.Add(LeaseTTL/2)
	l.termCtx, l.term = context.WithCancel(context.Background())
	l.mu.Unlock()
	attrs := []any{"lease", l.key, "node", l.node, "reason", why}
	if prev != "" {
		attrs = append(attrs, "previous_holder", prev)
	}
	if waited > 0 {
		attrs = append(attrs, "takeover_after", waited.Round(time.Millisecond))
	}
	l.log.Info("collector leadership acquired: this node collects this tenant and type", attrs...)
	if l.onChange != nil {
		l.onChange(true)
	}
	select {
	case l.gained <- struct{}{}:
	default:
	}
}

// lapse ends this process's term (no-op when it holds no lease).
func (l *Lease) lapse(why string) {
	l.mu.Lock()
	if !l.held {
		l.mu.Unlock()
		return
	}
	l.held = false
	if l.term != nil {
		l.term()
	}
	l.mu.Unlock()
	l.log.Warn("collector leadership lost: this node stops collecting this tenant and type", "lease", l.key, "node", l.node, "reason", why)
	if l.onChange != nil {
		l.onChange(false)
	}
}

// release gives the lease up at shutdown, so that another node takes over at once instead of after LeaseTTL.
func (l *Lease) release() {
	l.mu.Lock()
	held, rev := l.held, l.rev
	l.mu.Unlock()
	if !held {
		return
	}
	l.lapse("this node is stopping")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Best effort: when the delete fails (another node already took over, or the bucket is unreachable), the
	// lease simply lapses after LeaseTTL and is taken over then.
	_ = l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
}

// fencedJS refuses publishes once the lease is lost: a stale holder cannot publish.
type fencedJS struct {
	jetstream.JetStream
	fence func() error
}

func (f fencedJS) PublishMsg(ctx context.Context, m *nats.Msg, o ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := f.fence(); err != nil {
		return nil, err
	}
	return f.JetStream.PublishMsg(ctx, m, o...)
}

func (f fencedJS) PublishMsgAsync(m *nats.Msg, o ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if err := f.fence(); err != nil {
		return nil, err
	}
	return f.JetStream.PublishMsgAsync(m, o...)
}

func (f fencedJS) Publish(ctx context.Context, subj string, data []byte, o ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if err := f.fence(); err != nil {
		return nil, err
	}
	return f.JetStream.Publish(ctx, subj, data, o...)
}

func (f fencedJS) PublishAsync(subj string, data []byte, o ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if err := f.fence(); err != nil {
		return nil, err
	}
	return f.JetStream.PublishAsync(subj, data, o...)
}

// fencedKV refuses state writes once the lease is lost: a stale holder cannot write state, reservations or
// delta links.
type fencedKV struct {
	jetstream.KeyValue
	fence func() error
}

func (f fencedKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := f.fence(); err != nil {
		return 0, err
	}
	return f.KeyValue.Put(ctx, key, value)
}

func (f fencedKV) PutString(ctx context.Context, key string, value string) (uint64, error) {
	return f.Put(ctx, key, []byte(value))
}

func (f fencedKV) Create(ctx context.Context, key string, value []byte, o ...jetstream.KVCreateOpt) (uint64, error) {
	if err := f.fence(); err != nil {
		return 0, err
	}
	return f.KeyValue.Create(ctx, key, value, o...)
}

func (f fencedKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := f.fence(); err != nil {
		return 0, err
	}
	return f.KeyValue.Update(ctx, key, value, rev)
}

func (f fencedKV) Delete(ctx context.Context, key string, o ...jetstream.KVDeleteOpt) error {
	if err := f.fence(); err != nil {
		return err
	}
	return f.KeyValue.Delete(ctx, key, o...)
}

func (f fencedKV) Purge(ctx context.Context, key string, o ...jetstream.KVDeleteOpt) error {
	if err := f.fence(); err != nil {
		return err
	}
	return f.KeyValue.Purge(ctx, key, o...)
}

// startLease starts the lease of a loop when the broker is shared by several processes (nil otherwise: a single
// node always collects) and fences p with it.
func (r *Runner) startLease(ctx context.Context, l *loop, p *Pipeline, log *slog.Logger) *Lease {
	lb, ok := r.Broker.(LeaseBroker)
	if !ok || !lb.Clustered() {
		r.Metrics.setLeader(l.name, l.typ, true)
		return nil
	}
	var kv jetstream.KeyValue
	for kv == nil {
		var err error
		if kv, err = lb.LeaseKV(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Error("cannot reach the collector lease bucket; retrying in 5s", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Second):
			}
		}
	}
	lease := newLease(kv, l.name, l.typ, lb.Node(), log)
	lease.onChange = func(held bool) { r.Metrics.setLeader(l.name, l.typ, held) }
	r.Metrics.setLeader(l.name, l.typ, false)
	p.JS = fencedJS{p.JS, lease.Fence}
	// State writes go through the KV or, streamed, as publishes to the bucket's subjects: both are fenced.
	st := &State{kv: fencedKV{p.State.kv, lease.Fence}}
	if p.State.js != nil {
		st.js = fencedJS{p.State.js, lease.Fence}
	}
	p.State = st
	go lease.run(ctx)
	return lease
}

// awaitLease blocks until lease is held (at once without a lease) and returns the context of the collection,
// which ends when the lease is lost, and its cancel. ok is false when ctx ended first.
func awaitLease(ctx context.Context, lease *Lease) (c context.Context, cancel context.CancelFunc, ok bool) {
	for {
		if c, cancel, held := lease.Term(ctx); held {
			return c, cancel, true
		}
		select {
		case <-ctx.Done():
			return ctx, func() {}, false
		case <-lease.Gained():
		case <-time.After(LeaseRenew):
		}
	}
}

// setLeader sets scimstream_collector_leader of (tenant, typ): 1 on the node that collects it.
func (m *Metrics) setLeader(tenant string, typ wire.Type, held bool) {
	if m == nil || m.leader == nil {
		return
	}
	v := 0.0
	if held {
		v = 1
	}
	m.leader.WithLabelValues(tenant, string(typ)).Set(v)
}
