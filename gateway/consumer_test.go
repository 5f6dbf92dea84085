package gateway_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/wire"
)

// consumerInfo reads the durable with the subscriber's own (least-permission) creds.
func consumerInfo(t *testing.T, w *world, e gateway.Entity, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	nc := w.env.Connect(t, e.NATS.JWT, e.NATS.Secret.Reveal())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, tenant, durable)
	if err != nil {
		t.Fatalf("consumer %s: %v", durable, err)
	}
	return c.CachedInfo()
}

func TestConsumerHasTheNodeClientsNameAndSettings(t *testing.T) {
	w := newWorld(t)
	e := w.entity("plugin-loki", "undefined", "ENTRA.AD.*")
	r := w.start(w.config("plugin-loki", true, map[string]gateway.Entity{"undefined": e}))
	w.publish("ENTRA.AD.USER", nextID(), msg(wire.CreateUser, person("ad@acme.com")))
	w.publish("ENTRA.AD.USER.APP1", nextID(), msg(wire.CreateUser, person("deeper@acme.com")))
	w.publish("ENTRA.AD.OPERATOR", nextID(), msg(wire.CreateUser, person("op@acme.com")))
	evs := r.waitEvents(t, 2)
	time.Sleep(200 * time.Millisecond)
	if len(r.eventList()) != 2 || evs[0].UserName != "ad@acme.com" || evs[1].UserName != "op@acme.com" {
		t.Fatalf("ENTRA.AD.* delivered %+v; want ad@ and op@ only, in order", r.eventList())
	}
	ci := consumerInfo(t, w, e, "durable_plugin-loki_undefined")
	c := ci.Config
	if c.Durable != "durable_plugin-loki_undefined" || c.DeliverPolicy != jetstream.DeliverAllPolicy ||
		c.AckPolicy != jetstream.AckExplicitPolicy || c.FilterSubject != "ENTRA.AD.*" {
		t.Fatalf("consumer config %+v", c)
	}
	if ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Fatalf("pending %d, ack pending %d: every handled message must be acked", ci.NumPending, ci.NumAckPending)
	}
}

func TestPreCreatedConsumerIsKeptAndReFiltered(t *testing.T) {
	w := newWorld(t)
	e := w.entity("gw", "app1", "ENTRA.APP1")
	nc := w.env.Connect(t, e.NATS.JWT, e.NATS.Secret.Reveal())
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// As the broker may pre-create it (longer ack wait), but for an old channel.
	if _, err := js.CreateConsumer(ctx, tenant, jetstream.ConsumerConfig{
		Durable: "durable_gw_app1", DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: "ENTRA.OLD", AckWait: 5 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	r := w.start(w.config("gw", true, map[string]gateway.Entity{"app1": e}))
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("moved@acme.com")))
	r.waitEvents(t, 1)
	c := consumerInfo(t, w, e, "durable_gw_app1").Config
	if c.FilterSubject != "ENTRA.APP1" || c.AckWait != 5*time.Minute {
		t.Fatalf("filter %q ack wait %s; want ENTRA.APP1 and the pre-set 5m", c.FilterSubject, c.AckWait)
	}
}

func TestConsumerWithAnotherDeliverPolicyIsRefusedLoudly(t *testing.T) {
	w := newWorld(t)
	e := w.entity("gw", "app1", "ENTRA.APP1")
	nc := w.env.Connect(t, e.NATS.JWT, e.NATS.Secret.Reveal())
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateConsumer(ctx, tenant, jetstream.ConsumerConfig{
		Durable: "durable_gw_app1", DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "ENTRA.APP1",
	}); err != nil {
		t.Fatal(err)
	}
	r := w.start(w.config("gw", true, map[string]gateway.Entity{"app1": e}))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.log.String(), `deliver policy new; it must be \"all\"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no error about the deliver policy:\n%s", r.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWrongTenantIsReportedAndRetried(t *testing.T) {
	w := newWorld(t)
	e := w.entity("gw", "app1", "ENTRA.APP1")
	e.NATS.Tenant = "other"
	r := w.start(w.config("gw", true, map[string]gateway.Entity{"app1": e}))
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(r.log.String(), "the broker denied it") || !strings.Contains(r.log.String(), "nats.tenant") {
		if time.Now().After(deadline) {
			t.Fatalf("want a retry naming the permission problem:\n%s", r.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSurvivesBrokerRestart(t *testing.T) {
	w := newWorld(t)
	r := entraGateway(t, w, true, nil)
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("before@acme.com")))
	r.waitEvents(t, 1)

	port := w.env.Broker.Server().Addr().(*net.TCPAddr).Port
	w.env.Broker.Shutdown()
	time.Sleep(3 * time.Second) // the gateway retries meanwhile
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, w.env.Config, broker.Options{
		StoreDir: filepath.Join(w.env.Dir, "jetstream"), CertsDir: filepath.Join(w.env.Dir, "certs"),
		Port: port, Host: "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	w.env.Broker = b
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("after@acme.com")))
	if evs := r.waitEvents(t, 2); evs[1].UserName != "after@acme.com" {
		t.Fatalf("after restart: %+v", evs[1])
	}
	if !strings.Contains(r.log.String(), "reconnected") {
		t.Errorf("no reconnect logged:\n%s", r.log)
	}
}

func TestMissingCAFileStopsTheGateway(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("gw", true, map[string]gateway.Entity{"app1": w.entity("gw", "app1", "ENTRA.APP1")})
	cfg.Scimgateway.Stream.Certificate.CA = "missing-ca.pem"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := gateway.Run(ctx, cfg, options(nil))
	if err == nil || !strings.Contains(err.Error(), "missing-ca.pem") {
		t.Fatalf("Run = %v, want an error naming the CA file", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run kept running without a usable CA")
	}
}
