package broker_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// publishN publishes n 1 KB messages with Msg-Id/Nats-Msg-Id (as the pipeline does), each waiting for its
// JetStream ack, and returns how long that took. ids must differ between calls on the same stream, or the
// duplicate window would turn later publishes into cheap duplicate acks.
func publishN(b *testing.B, js jetstream.JetStream, subject, ids string, n int) time.Duration {
	b.Helper()
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < n; i++ {
		m := nats.NewMsg(subject)
		id := ids + strconv.Itoa(i)
		m.Header.Set("Msg-Id", id)
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Data = payload
		if _, err := js.PublishMsg(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// benchChunk is how many messages go through one path before the other takes its turn.
const benchChunk = 100

// rawJetStream is the baseline: a bare nats-server in this process (no TLS, no auth, no accounts) with the same
// stream configuration, reached through an in-process connection.
func rawJetStream(b *testing.B) jetstream.JetStream {
	b.Helper()
	srv, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: b.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		b.Fatal(err)
	}
	srv.Start()
	b.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		b.Fatal("baseline server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), broker.StreamConfig("acme", wire.Entra, 14)); err != nil {
		b.Fatal(err)
	}
	return js
}

// BenchmarkPublishAck is publish-with-ack throughput of 1 KB messages through the broker, against a raw
// in-process nats-server measured in the same run with the same message count:
//   - tls: a client with an issued pub user over TLS to tls://localhost (what an external publisher pays);
//   - inprocess: SCIM Stream's own publisher (JWT auth, account per (tenant, type), in-process connection).
//
// ratio is the path's throughput over the baseline's (1 = as fast as raw): the median over adjacent chunks of
// benchChunk messages each. msgs/s and raw-msgs/s are the totals; ns/op is the path alone.
func BenchmarkPublishAck(b *testing.B) {
	for _, path := range []string{"tls", "inprocess"} {
		b.Run(path, func(b *testing.B) {
			raw := rawJetStream(b)
			env := brokertest.Start(b, "acme")
			js := env.JetStream(b, "acme", wire.Entra)
			if path == "tls" {
				u := env.Issue(b, "acme", wire.Entra, natsauth.Pub, "")
				nc := env.Connect(b, u.JWT, u.Seed.Reveal(), nats.CustomInboxPrefix(natsauth.PublisherInbox))
				js, _ = jetstream.New(nc)
			}
			// Warm both up (connections, stream files) so neither pays a first-use cost in the measurement.
			publishN(b, raw, "ENTRA.APP1", "warm-", 100)
			publishN(b, js, "ENTRA.APP1", "warm-", 100)
			b.SetBytes(1024)
			b.ResetTimer()
			// Alternate chunks of both, so that load from other processes on a shared machine hits both alike, and
			// take the ratio as the median of the chunk pairs' ratios, so that a burst of load during one chunk
			// does not decide it.
			var base, got time.Duration
			var pairs []float64
			for done := 0; done < b.N; done += benchChunk {
				k := min(benchChunk, b.N-done)
				ids := "m" + strconv.Itoa(done) + "-"
				b.StopTimer()
				bt := publishN(b, raw, "ENTRA.APP1", ids, k)
				b.StartTimer()
				gt := publishN(b, js, "ENTRA.APP1", ids, k)
				base, got = base+bt, got+gt
				pairs = append(pairs, bt.Seconds()/gt.Seconds())
			}
			b.StopTimer()
			slices.Sort(pairs)
			b.ReportMetric(float64(b.N)/got.Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N)/base.Seconds(), "raw-msgs/s")
			b.ReportMetric(pairs[len(pairs)/2], "ratio")
		})
	}
}
