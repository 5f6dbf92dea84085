package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/wire"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// publish publishes one message the way the pipeline does (Msg-Id and Nats-Msg-Id) and waits for the ack.
func publish(t *testing.T, js jetstream.JetStream, subject, id, body string) *jetstream.PubAck {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Header.Set("Msg-Id", id)
	m.Header.Set(jetstream.MsgIDHeader, id)
	m.Data = []byte(body)
	ack, err := js.PublishMsg(ctxT(t), m)
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return ack
}

func TestSubscriberPullsWithNodePermissions(t *testing.T) {
	env := brokertest.Start(t, "acme")
	durable := wire.DurableName("plugin-loki", "undefined")
	if durable != "durable_plugin-loki_undefined" {
		t.Fatalf("durable name %q", durable)
	}
	publish(t, env.JetStream(t, "acme", wire.Entra), "ENTRA.APP1", "m1", `{"activityOperation":"createUser"}`)

	jwt, seed := env.SubscriberCreds(t, "acme", wire.Entra, durable)
	nc := env.Connect(t, jwt, seed)
	if got := nc.ConnectedServerName(); got != "SCIM-Stream" {
		t.Fatalf("server_name %q, want SCIM-Stream", got)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctxT(t), "acme", jetstream.ConsumerConfig{
		Durable: durable, FilterSubject: "ENTRA.APP1", DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("create durable: %v", err)
	}
	batch, err := cons.Fetch(100, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for m := range batch.Messages() {
		n++
		if m.Headers().Get("Msg-Id") != "m1" {
			t.Errorf("Msg-Id %q", m.Headers().Get("Msg-Id"))
		}
		if err := m.DoubleAck(ctxT(t)); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	if n != 1 {
		t.Fatalf("got %d messages, want 1", n)
	}
}
