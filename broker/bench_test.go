package broker_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/natsauth"
)

// benchPublish publishes b.N 1 KB messages with Msg-Id/Nats-Msg-Id, each waiting for its JetStream ack.
func benchPublish(b *testing.B, js jetstream.JetStream, subject string) {
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := nats.NewMsg(subject)
		id := strconv.Itoa(i)
		m.Header.Set("Msg-Id", id)
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Data = payload
		if _, err := js.PublishMsg(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPublishAck compares publish-with-ack of 1 KB messages: a raw in-process nats-server (no TLS, no auth:
// the baseline), SCIM Stream's own in-process publisher (JWT auth, account per type), and a client publishing
// over TLS with an issued pub user.
func BenchmarkPublishAck(b *testing.B) {
	b.Run("raw-inprocess", func(b *testing.B) {
		srv, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: b.TempDir(), NoSigs: true, NoLog: true})
		if err != nil {
			b.Fatal(err)
		}
		srv.Start()
		defer srv.Shutdown()
		if !srv.ReadyForConnections(10e9) {
			b.Fatal("server not ready")
		}
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if _, err := js.CreateStream(context.Background(), broker.StreamConfig("acme", natsauth.Entra, 14)); err != nil {
			b.Fatal(err)
		}
		benchPublish(b, js, "ENTRA.APP1")
	})
	b.Run("scim-stream-inprocess", func(b *testing.B) {
		env := brokertest.Start(b, "acme")
		benchPublish(b, env.JetStream(b, "acme", natsauth.Entra), "ENTRA.APP1")
	})
	b.Run("scim-stream-tls", func(b *testing.B) {
		env := brokertest.Start(b, "acme")
		u := env.Issue(b, "acme", natsauth.Entra, natsauth.Pub, "")
		nc := env.Connect(b, u.JWT, u.Seed.Reveal(), nats.CustomInboxPrefix(natsauth.PublisherInbox))
		js, _ := jetstream.New(nc)
		benchPublish(b, js, "ENTRA.APP1")
	})
}
