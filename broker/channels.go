package broker

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// channelRouter is the collector's JetStream of (tenant, type): each routed message goes to exactly one channel
// subject, and it is published into that channel's account, whose stream <tenant> holds only that subject — so a
// subscriber of one channel has no way to reach another channel's messages, even through _INBOX.>. A subject of
// no configured channel goes to the (tenant, type) account. Every other method is the (tenant, type) account's.
type channelRouter struct {
	jetstream.JetStream
	b      *Broker
	tenant string
	typ    wire.Type
}

// route returns the JetStream that stores subject. A configured channel whose account is not connected yet (a
// channel added a moment ago, before the broker's reload) is an error, never the wrong account: the collector
// retries it with the same Msg-Id.
func (r *channelRouter) route(subject string) (jetstream.JetStream, error) {
	ch, ok := natsauth.ChannelOf(r.typ, subject)
	if !ok {
		return r.JetStream, nil
	}
	cfg := r.b.cfg.Load()
	configured := false
	for _, c := range natsauth.Channels(cfg, r.tenant, r.typ) {
		if c == ch {
			configured = true
			break
		}
	}
	if !configured {
		return r.JetStream, nil
	}
	r.b.mu.Lock()
	p := r.b.pubs[accountKey{r.tenant, r.typ, ch}]
	r.b.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("broker: account %s is not connected yet", natsauth.ChannelAccountName(r.tenant, r.typ, ch))
	}
	return p.js, nil
}

func (r *channelRouter) Publish(ctx context.Context, subject string, payload []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	js, err := r.route(subject)
	if err != nil {
		return nil, err
	}
	return js.Publish(ctx, subject, payload, opts...)
}

func (r *channelRouter) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	js, err := r.route(m.Subject)
	if err != nil {
		return nil, err
	}
	return js.PublishMsg(ctx, m, opts...)
}

func (r *channelRouter) PublishAsync(subject string, payload []byte, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	js, err := r.route(subject)
	if err != nil {
		return nil, err
	}
	return js.PublishAsync(subject, payload, opts...)
}

func (r *channelRouter) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	js, err := r.route(m.Subject)
	if err != nil {
		return nil, err
	}
	return js.PublishMsgAsync(m, opts...)
}

// all is the (tenant, type) account and every connected channel account of it.
func (r *channelRouter) all() []jetstream.JetStream {
	out := []jetstream.JetStream{r.JetStream}
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	for k, p := range r.b.pubs {
		if k.tenant == r.tenant && k.typ == r.typ && k.channel != "" {
			out = append(out, p.js)
		}
	}
	return out
}

func (r *channelRouter) PublishAsyncPending() int {
	n := 0
	for _, js := range r.all() {
		n += js.PublishAsyncPending()
	}
	return n
}

func (r *channelRouter) PublishAsyncComplete() <-chan struct{} {
	done := make(chan struct{})
	all := r.all()
	var wg sync.WaitGroup
	for _, js := range all {
		wg.Add(1)
		go func() { defer wg.Done(); <-js.PublishAsyncComplete() }()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

func (r *channelRouter) CleanupPublisher() {
	for _, js := range r.all() {
		js.CleanupPublisher()
	}
}
