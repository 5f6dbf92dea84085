package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/wire"
)

// Subscriber settings (package wire): batches of up to 100, processed one at a time in stream order.
const (
	fetchBatch = 100
	// defaultAckWait is JetStream's ack wait when the consumer does not set one.
	defaultAckWait = 30 * time.Second
	// fetchWait is how long one pull waits for messages; shutdown waits for it to end. Messages arriving meanwhile are
	// handled at once; the length matters after a failure, when the rest of the pull is collected and handed back
	// only when it ends (so a retry cannot start before), and for idle polling (one small request per second).
	fetchWait = time.Second
	// reconnectWait is the pause between connection attempts; the client retries forever.
	reconnectWait = 2 * time.Second
	// setupRetryMax caps the pause between attempts to find or create the consumer.
	setupRetryMax = 30 * time.Second
)

// subscriber is one entity's durable pull consumer feeding the endpoint.
type subscriber struct {
	g       *Gateway
	entity  string
	cfg     Entity
	durable string
	ap      *applier
	log     *slog.Logger
	// denied is the broker's last permission violation for this connection: denied JetStream requests look like
	// time-outs, so a failure is reported together with it.
	denied atomic.Pointer[error]
	health subHealth
}

func newSubscriber(g *Gateway, entity string, e Entity) *subscriber {
	// Soft sync is forced for HR: an HR message carries only what the HR system owns, a replace would erase
	// everything else (e.g. what an ENTRA channel provisioned).
	soft := g.Config.Scimgateway.Scim.UsePutSoftSync || isType(e.NATS.Subject, wire.HR)
	durable := wire.DurableName(g.Config.Name, entity)
	return &subscriber{
		g: g, entity: entity, cfg: e, durable: durable,
		ap: newApplier(g.Endpoint, entityOptions{softSync: soft, Entity: e}),
		log: g.Log.With("gateway", g.Config.Name, "entity", entity, "tenant", e.NATS.Tenant,
			"subject", e.NATS.Subject, "durable", durable),
	}
}

// run consumes until ctx is cancelled, reconnecting and re-creating the consumer as often as needed. It
// returns an error only when the subscriber cannot start at all (a configuration problem).
func (s *subscriber) run(ctx context.Context) error {
	nc, err := s.connect()
	if err != nil { // connection failures are retried by the client: this is a configuration problem
		return fmt.Errorf("entity %s: %w", s.entity, err)
	}
	defer nc.Close()
	s.health.conn.Store(nc)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("entity %s: %w", s.entity, err)
	}
	s.log.Info("gateway: subscriber started", "endpoint", s.g.Config.EndpointType(), "softSync", s.ap.opts.softSync)
	wait := s.g.RetryMin
	for ctx.Err() == nil {
		s.denied.Store(nil)
		s.health.set(subStarting)
		cons, err := s.consumer(ctx, js)
		if d := s.denied.Load(); err != nil && d != nil {
			err = fmt.Errorf("%w: the broker denied it (%v): nats.tenant, nats.subject and the gateway name %q with entity %q must be those the creds were issued for (scim-stream creds -tenant T -type %s -plugin %s -entity %s)",
				err, *d, s.g.Config.Name, s.entity, s.typ().Key(), s.g.Config.Name, s.entity)
		}
		if err == nil {
			wait = s.g.RetryMin
			s.health.set(subConsuming)
			err = s.consume(ctx, cons)
		}
		if ctx.Err() != nil {
			return nil
		}
		s.health.setup.Failure(time.Now(), err)
		s.health.set(subRetrying)
		s.log.Warn("gateway: subscription interrupted; retrying", "err", err, "retryIn", wait)
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(2*wait, setupRetryMax)
	}
	return nil
}

func (s *subscriber) connect() (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(fmt.Sprintf("scim-stream gateway %s/%s", s.g.Config.Name, s.entity)),
		nats.UserJWTAndSeed(s.cfg.NATS.JWT, s.cfg.NATS.Secret.Reveal()),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(reconnectWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && !LogIfRefused(s.log, err, s.cfg.NATS.JWT) {
				s.log.Warn("gateway: disconnected from the broker; reconnecting", "err", err)
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { LogIfRefused(s.log, err, s.cfg.NATS.JWT) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.log.Info("gateway: reconnected to the broker", "url", nc.ConnectedUrlRedacted())
		}),
		// Denied requests look like time-outs; the async error names the permission.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				s.denied.Store(&err)
			}
			if !LogIfRefused(s.log, err, s.cfg.NATS.JWT) {
				s.log.Warn("gateway: broker reported an error", "err", err)
			}
		}),
	}
	if ca := s.g.Config.CAFile(); ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	nc, err := nats.Connect(strings.Join(s.g.Config.Scimgateway.Stream.BaseURLs, ","), opts...)
	if err != nil {
		LogIfRefused(s.log, err, s.cfg.NATS.JWT)
		return nil, fmt.Errorf("connect %v: %w", s.g.Config.Scimgateway.Stream.BaseURLs, err)
	}
	return nc, nil
}

// consumer finds the entity's durable consumer or creates it with the Node client's settings: deliver all,
// explicit ack, filter = subject. One the broker pre-created (longer ack wait) is used as it is; one with
// another filter is re-filtered in place.
func (s *subscriber) consumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	stream, subject := s.cfg.NATS.Tenant, s.cfg.NATS.Subject
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := js.Consumer(cctx, stream, s.durable)
	switch {
	case err == nil:
		info := cons.CachedInfo()
		if info.Config.DeliverPolicy != jetstream.DeliverAllPolicy {
			return nil, fmt.Errorf("consumer %s on stream %s has deliver policy %s; it must be \"all\": delete it so the gateway re-creates it", s.durable, stream, info.Config.DeliverPolicy)
		}
		if info.Config.FilterSubject != subject || len(info.Config.FilterSubjects) > 0 {
			cfg := info.Config
			cfg.FilterSubject, cfg.FilterSubjects = subject, nil
			if cons, err = js.UpdateConsumer(cctx, stream, cfg); err != nil {
				return nil, fmt.Errorf("consumer %s on stream %s: re-filter to %s: %w", s.durable, stream, subject, err)
			}
			s.log.Info("gateway: consumer re-filtered", "from", info.Config.FilterSubject)
		}
		return cons, nil
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		cons, err = js.CreateConsumer(cctx, stream, jetstream.ConsumerConfig{
			Durable:       s.durable,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			FilterSubject: subject,
		})
		if err != nil {
			return nil, fmt.Errorf("consumer %s on stream %s: create: %w", s.durable, stream, err)
		}
		s.log.Info("gateway: consumer created")
		return cons, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("stream %q not found: nats.tenant must be the SCIM Stream tenant name, and the creds must be for its %s collector type", stream, s.typ())
	default:
		return nil, fmt.Errorf("consumer %s on stream %s: %w", s.durable, stream, err)
	}
}

// consume pulls and handles batches until ctx ends or a pull fails.
func (s *subscriber) consume(ctx context.Context, cons jetstream.Consumer) error {
	ackWait := cons.CachedInfo().Config.AckWait
	if ackWait <= 0 {
		ackWait = defaultAckWait
	}
	var perMsg time.Duration // moving average of the time one message takes
	for ctx.Err() == nil {
		// FetchMaxWait, not a context deadline: the client then waits a second longer than the server keeps the
		// pull open. With a deadline it would stop listening only a tenth earlier, and a server that got the pull
		// late (a loaded machine) would deliver into an inbox no one reads: those messages come back only after
		// the ack wait. Shutdown waits for the pull to end (at most fetchWait + 1 s).
		batch, err := cons.Fetch(batchSize(ackWait, perMsg), jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			return fmt.Errorf("pull from consumer %s: %w", s.durable, err)
		}
		// The pull's messages are applied in groups of what has arrived (one endpoint transaction per group where
		// the endpoint can batch); an idle subscriber still applies a lone message at once.
		p := pull{blocked: map[string]bool{}}
		msgs := batch.Messages()
		for {
			group := nextGroup(msgs)
			if len(group) == 0 {
				break
			}
			began := time.Now()
			s.applyGroup(ctx, group, &p)
			perMsg = (3*perMsg + time.Since(began)/time.Duration(len(group))) / 4
		}
		pause, held, failedAt := p.pause, p.held, p.failedAt
		s.health.held.Store(int64(len(held)))
		if pause > 0 {
			// The back-off runs from the failure: the time the pull took to end counts.
			pause = max(0, pause-time.Since(failedAt))
		}
		if ctx.Err() != nil {
			pause = 0 // shutting down: hand everything back at once for the next start
		}
		for _, m := range held {
			s.nak(m, pause)
		}
		err = batch.Error()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("pull from consumer %s: %w", s.durable, err)
		}
		if pause > 0 {
			// Slightly longer than the nak delay, so the server has the message back when we pull again.
			if !sleep(ctx, pause+pause/10+50*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	return ctx.Err()
}

// batchSize pulls as many messages as can be handled within half the ack wait: with a slow endpoint the last
// messages of a batch of 100 would otherwise time out while waiting their turn, be redelivered and overtake.
func batchSize(ackWait, perMsg time.Duration) int {
	if perMsg <= 0 {
		return fetchBatch
	}
	return int(max(1, min(int64(fetchBatch), int64(ackWait/2/perMsg))))
}

func (s *subscriber) nak(msg jetstream.Msg, delay time.Duration) {
	var err error
	if delay >= time.Millisecond {
		err = msg.NakWithDelay(delay)
	} else {
		err = msg.Nak()
	}
	if err != nil {
		s.log.Warn("gateway: nak failed; the message returns after the ack wait", "err", err)
	}
}

// item is one pulled message on its way through the endpoint.
type item struct {
	msg       jetstream.Msg
	ev        Event
	delivered uint64
	log       *slog.Logger
	m         *wire.Message
	// key names the user the message is about (the publisher's targetId, else the userName): a user's messages
	// are applied in stream order, so when one of them fails the user's later messages in the pull wait with it.
	key string
	err error
}

// prepare decodes a message; a body that is not a message leaves err set (permanent).
func (s *subscriber) prepare(msg jetstream.Msg) *item {
	it := &item{msg: msg, delivered: 1,
		ev: Event{Time: time.Now(), Entity: s.entity, Subject: msg.Subject(), MsgID: msg.Headers().Get(wire.MsgIDHeader)}}
	if md, err := msg.Metadata(); err == nil {
		it.ev.Seq, it.delivered = md.Sequence.Stream, md.NumDelivered
		s.health.pending.Store(md.NumPending)
	}
	it.log = s.log.With("msgId", it.ev.MsgID, "seq", it.ev.Seq)
	if it.ev.MsgID == "" {
		// The Node client acks and drops such a message silently; it is still a valid change, so apply it.
		it.log.Warn("gateway: message without Msg-Id header; applying it anyway")
	}
	var name string
	it.m, name, it.err = decodeMessage(msg.Data())
	if it.err == nil {
		it.ev.Operation = it.m.ActivityOperation
		it.key = "u:" + strings.ToLower(name)
		if it.m.TargetID != "" {
			it.key = "t:" + it.m.TargetID
		}
	}
	return it
}

// settle acks, terms or reports for retry a message whose apply ended with it.err. When it returns a back-off
// (> 0) the message was not applied: the caller naks it with that delay and waits before the next pull.
func (s *subscriber) settle(ctx context.Context, it *item) time.Duration {
	msg, ev, log, err := it.msg, it.ev, it.log, it.err
	delivered := it.delivered
	if ctx.Err() == nil && it.m != nil {
		s.g.noteEndpoint(err) // a body that is no message says nothing about the endpoint
	}
	s.observe(ev.Time, err, ctx.Err() != nil)
	switch {
	case err == nil:
		if err := msg.Ack(); err != nil {
			// Applied but not acknowledged: it comes back and is applied again, which is harmless.
			log.Warn("gateway: ack failed; the message will be redelivered", "err", err)
		}
		log.Info("gateway: message applied", "action", ev.Action, "userName", ev.UserName, "reason", ev.Reason)
		if ev.Warning != "" {
			log.Warn("gateway: message applied in part", "userName", ev.UserName, "warning", ev.Warning)
		}
		s.g.emit(ev)
		return 0
	case isPermanent(err) && ctx.Err() == nil:
		ev.Action, ev.Err = ActionTerminated, err
		log.Error("gateway: message can never be applied; terminated", "userName", ev.UserName, "err", err)
		if err := msg.TermWithReason(truncate(err.Error(), 200)); err != nil {
			log.Warn("gateway: term failed; the message will be redelivered", "err", err)
		}
		s.g.emit(ev)
		return 0
	case ctx.Err() != nil:
		return time.Nanosecond // shutting down: the caller hands it back
	default:
		delay := retryDelay(err, s.backoff(delivered))
		ev.Action, ev.Err = ActionRetrying, err
		log.Warn("gateway: endpoint failed; message will be retried", "userName", ev.UserName, "delivery", delivered, "retryIn", delay, "err", err)
		s.g.emit(ev)
		return delay // the caller naks it with this delay when the pull has ended
	}
}

// observe records a handled message for the metrics and /readyz (not when it was interrupted by shutdown).
func (s *subscriber) observe(began time.Time, err error, stopping bool) {
	if stopping {
		return
	}
	result := resultApplied
	switch {
	case err == nil:
		s.health.track.Success(time.Now())
	case isPermanent(err):
		result = resultTerminated
		s.health.track.Failure(time.Now(), err)
	default:
		result = resultRetry
		s.health.track.Failure(time.Now(), err)
	}
	s.g.Metrics.message(s.entity, s.g.Config.EndpointType(), result, time.Since(began).Seconds())
}

// maxRetryAfter caps an endpoint's Retry-After: a value of days (or a date far ahead) would park the entity.
const maxRetryAfter = time.Hour

// retryAfter is implemented by endpoint errors that carry the endpoint's own wait (an upstream SCIM service's
// 429/503 Retry-After), so the subscriber honours it without importing the endpoint's package.
type retryAfter interface{ RetryAfter() time.Duration }

// retryDelay is the back-off, or the endpoint's Retry-After when that is longer: retrying earlier only earns
// another 429 and may count against the client's quota.
func retryDelay(err error, backoff time.Duration) time.Duration {
	var ra retryAfter
	if errors.As(err, &ra) && ra.RetryAfter() > backoff {
		return min(ra.RetryAfter(), maxRetryAfter)
	}
	return backoff
}

// backoff doubles from RetryMin per delivery, up to RetryMax.
func (s *subscriber) backoff(delivered uint64) time.Duration {
	d := s.g.RetryMin
	for i := uint64(1); i < delivered && d < s.g.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.g.RetryMax)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// isType reports whether an entity's subject (a filter such as ENTRA.AD.*) belongs to typ.
func isType(subject string, typ wire.Type) bool {
	t, ok := wire.TypeOf(subject)
	return ok && t == typ
}

// typ is the collector type of the entity's subject (Validate accepts only subjects that have one).
func (s *subscriber) typ() wire.Type { t, _ := wire.TypeOf(s.cfg.NATS.Subject); return t }
