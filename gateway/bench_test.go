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
// the same run. Phase one creates b.N users with a group (lookup, create, membership: two durable bbolt write
// transactions each); phase two changes each user's title (lookup, one replace). ns/op is per created user.
func BenchmarkSubscriberIntoStore(b *testing.B) {
	w := newWorld(b)
	for i := range b.N {
		u := person(fmt.Sprintf("bench%07d@acme.com", i), "groups", []any{group(fmt.Sprintf("G%d", i%10))})
		w.publish("ENTRA.APP1", fmt.Sprintf("bench-%d", i), msg(wire.CreateUser, u))
	}

	// Baseline: fetch + ack, nothing else.
	jwt, seed := w.env.SubscriberCreds(b, tenant, wire.Entra, "durable_raw_bench")
	js, err := jetstream.New(w.env.Connect(b, jwt, seed))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cons, err := js.CreateConsumer(ctx, tenant, jetstream.ConsumerConfig{
		Durable: "durable_raw_bench", DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "ENTRA.APP1",
	})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for got := 0; got < b.N; {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
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
	raw := time.Since(start)

	// The gateway.
	var applied atomic.Int64
	done, modified := make(chan struct{}), make(chan struct{})
	cfg := w.config("gw", false, map[string]gateway.Entity{"app1": w.entity("gw", "app1", "ENTRA.APP1")})
	b.ResetTimer()
	start = time.Now()
	r := w.startHook(cfg, func(e gateway.Event) {
		n := applied.Add(1)
		if want := map[bool]gateway.Action{true: gateway.ActionCreated, false: gateway.ActionReplaced}[n <= int64(b.N)]; e.Action != want {
			b.Errorf("message %s: %s %v, want %s", e.MsgID, e.Action, e.Err, want)
		}
		switch n {
		case int64(b.N):
			close(done)
		case 2 * int64(b.N):
			close(modified)
		}
	})
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("applied %d of %d", applied.Load(), b.N)
	}
	gw := time.Since(start)
	b.StopTimer()

	// Steady state: every user changes title (lookup, one replace; the membership is already there).
	for i := range b.N {
		u := person(fmt.Sprintf("bench%07d@acme.com", i), "title", "Senior", "groups", []any{group(fmt.Sprintf("G%d", i%10))})
		w.publish("ENTRA.APP1", fmt.Sprintf("bench-mod-%d", i), msg(wire.ModifyUser, u))
	}
	start = time.Now()
	select {
	case <-modified:
	case <-time.After(10 * time.Minute):
		b.Fatalf("applied %d of %d", applied.Load(), 2*b.N)
	}
	mod := time.Since(start)
	r.stop()
	rawRate := float64(b.N) / raw.Seconds()
	gwRate := float64(b.N) / gw.Seconds()
	b.ReportMetric(rawRate, "raw_msgs/s")
	b.ReportMetric(gwRate, "created_msgs/s")
	b.ReportMetric(gwRate/rawRate, "created/raw")
	b.ReportMetric(float64(b.N)/mod.Seconds(), "modified_msgs/s")
	b.ReportMetric(float64(b.N)/mod.Seconds()/rawRate, "modified/raw")
}
