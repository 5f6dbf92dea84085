package gateway_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/wire"
)

// BenchmarkSubscriberIntoStore measures messages applied per second by one subscriber into the store, next to
// the raw rate of fetching and acking the same messages with the same batch size, over the same TLS broker, in
// the same run. Phase one creates b.N users with a group (lookup, create, membership; the store commits each
// pulled batch in one durable bbolt transaction); phase two changes each user's title (lookup, one replace). ns/op is per created user.
func BenchmarkSubscriberIntoStore(b *testing.B) {
	w := newWorld(b)
	for i := range b.N {
		u := person(fmt.Sprintf("bench%07d@acme.com", i), "groups", []any{group(fmt.Sprintf("G%d", i%10))})
		w.publish("ENTRA.APP1", fmt.Sprintf("bench-%d", i), msg(wire.CreateUser, u))
	}

	// Baseline: fetch + ack, nothing else, with durable consumers of their own. It is measured before the
	// create phase and again after the modify phase, and the two are averaged: on a shared machine one short
	// measurement can land in a quiet or a busy moment.
	rawFetch := func(durable string) time.Duration {
		jwt, seed := w.env.SubscriberCreds(b, tenant, wire.Entra, durable)
		js, err := jetstream.New(w.env.Connect(b, jwt, seed))
		if err != nil {
			b.Fatal(err)
		}
		cons, err := js.CreateConsumer(context.Background(), tenant, jetstream.ConsumerConfig{
			Durable: durable, DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "ENTRA.APP1",
		})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for got := 0; got < b.N; {
			// Never more than is left: a pull for more than the stream holds would wait out its expiry, and
			// that wait, not fetching, would set the baseline (at b.N=1 it made the ratio exceed 1).
			batch, err := cons.Fetch(min(100, b.N-got), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			for m := range batch.Messages() {
				if err := m.Ack(); err != nil {
					b.Fatal(err)
				}
				got++
			}
		}
		return time.Since(start)
	}
	raw := rawFetch("durable_raw_bench")

	// The gateway, started on a backlog of b.N creates.
	var applied atomic.Int64
	done := make(chan struct{})
	cfg := w.config("gw", false, map[string]gateway.Entity{"app1": w.entity("gw", "app1", "ENTRA.APP1")})
	// The clock runs from the first message applied: connecting and finding the consumer are not per message.
	var first time.Time
	count := func(want gateway.Action) func(gateway.Event) {
		applied.Store(0)
		return func(e gateway.Event) {
			if e.Action != want {
				b.Errorf("message %s: %s %v, want %s", e.MsgID, e.Action, e.Err, want)
			}
			n := applied.Add(1)
			if n == 1 {
				first = time.Now()
			}
			if n == int64(b.N) {
				close(done)
			}
		}
	}
	// rate is the messages per second after the first.
	rate := func() float64 {
		if b.N == 1 {
			return 0
		}
		return float64(b.N-1) / time.Since(first).Seconds()
	}
	b.ResetTimer()
	r := w.startHook(cfg, count(gateway.ActionCreated))
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("applied %d of %d", applied.Load(), b.N)
	}
	gwRate := rate()
	b.StopTimer()
	r.stop()

	// Steady state: every user changes title (lookup, one replace; the membership is already there), again a
	// backlog the gateway starts on, as in the create phase.
	for i := range b.N {
		u := person(fmt.Sprintf("bench%07d@acme.com", i), "title", "Senior", "groups", []any{group(fmt.Sprintf("G%d", i%10))})
		w.publish("ENTRA.APP1", fmt.Sprintf("bench-mod-%d", i), msg(wire.ModifyUser, u))
	}
	done = make(chan struct{})
	r = w.startHook(cfg, count(gateway.ActionReplaced))
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("applied %d of %d", applied.Load(), b.N)
	}
	modRate := rate()
	r.stop()
	raw += rawFetch("durable_raw_bench2")
	rawRate := float64(2*b.N) / raw.Seconds()
	b.ReportMetric(rawRate, "raw_msgs/s")
	b.ReportMetric(gwRate, "created_msgs/s")
	b.ReportMetric(gwRate/rawRate, "created/raw")
	b.ReportMetric(modRate, "modified_msgs/s")
	b.ReportMetric(modRate/rawRate, "modified/raw")
}
