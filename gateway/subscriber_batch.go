package gateway

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
)

// maxExcluded bounds the re-runs of one batch transaction: each failing message's user is taken out and the
// rest re-applied; beyond this many, the remaining messages are applied one at a time.
const maxExcluded = 8

// pull is what the messages of one pull left behind: those to hand back and the back-off.
type pull struct {
	// held are the messages handed back (nak'ed) when the pull has ended: a nak'ed message would otherwise be
	// redelivered into this same pull and bounce, each bounce counting as a delivery (escalating the back-off)
	// and the retry waiting for the pull to end anyway. Handing them back in order keeps a user's later messages
	// behind the failed one.
	held []jetstream.Msg
	// blocked are the users with a held message: their later messages in the pull are held too.
	blocked map[string]bool
	// all holds every message from here on: the endpoint failed as a whole, or the subscriber is stopping.
	all      bool
	pause    time.Duration
	failedAt time.Time
}

func (p *pull) hold(it *item) {
	p.held = append(p.held, it.msg)
	if it.key != "" {
		p.blocked[it.key] = true
	}
}

// nextGroup waits for the pull's next message and takes with it every message that has already arrived, up
// to a batch: under load a group is a whole pull, and a lone change is applied at once. Empty when the pull
// has ended.
func nextGroup(msgs <-chan jetstream.Msg) []jetstream.Msg {
	m, ok := <-msgs
	if !ok {
		return nil
	}
	group := []jetstream.Msg{m}
	for len(group) < fetchBatch {
		select {
		case m, ok := <-msgs:
			if !ok {
				return group
			}
			group = append(group, m)
		default:
			return group
		}
	}
	return group
}

// applyGroup applies messages in stream order: in one endpoint transaction when the endpoint can batch,
// otherwise one by one.
func (s *subscriber) applyGroup(ctx context.Context, msgs []jetstream.Msg, p *pull) {
	items := make([]*item, len(msgs))
	for i, m := range msgs {
		items[i] = s.prepare(m)
	}
	bt, ok := s.ap.ep.(endpoint.Batcher)
	if !ok {
		for _, it := range items {
			s.applyOne(ctx, it, p, true)
		}
		return
	}
	s.applyBatch(ctx, bt, items, p)
}

// applyOne applies one message on its own. A failure holds the message and the user's later ones; with all,
// every later message of the pull (the endpoint without batches keeps to stream order across users: its
// failures are mostly the endpoint's, not the message's).
func (s *subscriber) applyOne(ctx context.Context, it *item, p *pull, all bool) {
	if p.all || p.blocked[it.key] || ctx.Err() != nil {
		p.hold(it)
		return
	}
	if it.err == nil {
		it.ev.Result, it.err = s.ap.apply(ctx, it.m)
	}
	if pause := s.settle(ctx, it); pause > 0 {
		p.hold(it)
		p.all = p.all || all
		p.pause, p.failedAt = max(p.pause, pause), time.Now()
	}
}

// applyBatch applies items in one transaction of bt and acks them after the commit. A message that fails
// rolls the transaction back; its user's messages are taken out, the others applied again in a new transaction,
// and the user's messages are then applied alone (and retried alone when they fail again). When the
// transaction fails for no message (the endpoint is suspended, the commit failed), the messages are applied one
// by one, a failure holding all that follow, as without batches.
func (s *subscriber) applyBatch(ctx context.Context, bt endpoint.Batcher, items []*item, p *pull) {
	var todo []*item
	for _, it := range items {
		switch {
		case p.all || p.blocked[it.key] || ctx.Err() != nil:
			p.hold(it)
		case it.err != nil: // not a message: terminated, it changes nothing
			s.settle(ctx, it)
		default:
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return
	}
	excluded := map[string]bool{}
	committed, holdAll := false, false
	for {
		failed := -1
		err := bt.Batch(ctx, func(ctx context.Context) error {
			for i, it := range todo {
				if excluded[it.key] {
					continue
				}
				it.ev.Result, it.err = s.ap.apply(ctx, it.m)
				if it.err != nil {
					failed = i
					return it.err
				}
			}
			return nil
		})
		if err == nil {
			committed = true
			break
		}
		// The group cache may hold groups created in the rolled-back transaction.
		s.ap.forgetGroups()
		if failed < 0 || ctx.Err() != nil {
			holdAll = true
			break
		}
		if len(excluded) == maxExcluded {
			break
		}
		excluded[todo[failed].key] = true
	}
	var alone []*item
	for _, it := range todo {
		if committed && !excluded[it.key] {
			s.settle(ctx, it) // applied and committed: ack
			continue
		}
		it.err, it.ev.Result = nil, Result{}
		alone = append(alone, it)
	}
	for _, it := range alone {
		s.applyOne(ctx, it, p, holdAll)
	}
}
