package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// subscriberJS connects a subscriber bound to durable and returns its consumer on filter, created or looked up as
// the Node SCIM Gateway does at every start, and the connection.
func subscriberJS(t *testing.T, env *brokertest.Env, tenant string, typ wire.Type, durable, filter string) (jetstream.Consumer, *nats.Conn) {
	t.Helper()
	jwt, seed := env.SubscriberCreds(t, tenant, typ, durable)
	nc := env.Connect(t, jwt, seed)
	return consumerOn(t, nc, tenant, durable, filter), nc
}

// consumerOn creates or looks up the durable pull consumer on stream with the Node client's settings.
func consumerOn(t *testing.T, nc *nats.Conn, stream, durable, filter string) jetstream.Consumer {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.CreateOrUpdateConsumer(ctxT(t), stream, jetstream.ConsumerConfig{Durable: durable, FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("consumer %s: %v", durable, err)
	}
	return c
}

// drain fetches in batches of 100 and acks (waiting for the server's confirmation) until n messages arrived or
// nothing more comes; it returns the Msg-Id of each message in delivery order.
func drain(t *testing.T, c jetstream.Consumer, n int) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		b, err := c.Fetch(min(100, n-len(ids)), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for m := range b.Messages() {
			if err := m.DoubleAck(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.Headers().Get("Msg-Id"))
			k++
		}
		if k == 0 {
			break
		}
	}
	return ids
}

func TestOfflineSubscriberAndRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := brokertest.Config(t, "acme")
	env := brokertest.StartWith(t, cfg, dir, nil)
	// The subscriber creates its durable, then goes offline; the broker keeps running and 1,000 messages are
	// published meanwhile.
	_, nc := subscriberJS(t, env, "acme", wire.Entra, "durable_app1", "ENTRA.APP1")
	nc.Close()
	js := env.JetStream(t, "acme", wire.Entra)
	var want []string
	for i := range 1000 {
		id := fmt.Sprintf("m%04d", i)
		want = append(want, id)
		publish(t, js, "ENTRA.APP1", id, `{"n":"`+id+`"}`)
	}
	// Back online: the first 600 arrive and are acknowledged.
	c, _ := subscriberJS(t, env, "acme", wire.Entra, "durable_app1", "ENTRA.APP1")
	got := drain(t, c, 600)
	if len(got) != 600 {
		t.Fatalf("received %d of the first 600", len(got))
	}
	// Restart: the stream, the durable and its acknowledged position survive; the other 400 follow.
	env.Broker.Shutdown()
	env = brokertest.StartWith(t, cfg, dir, nil)
	c, _ = subscriberJS(t, env, "acme", wire.Entra, "durable_app1", "ENTRA.APP1")
	rest := drain(t, c, 1000)
	if len(rest) != 400 {
		t.Fatalf("after restart received %d, want the remaining 400", len(rest))
	}
	if got = append(got, rest...); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the 1,000 messages did not arrive exactly once and in order: got %d, first ids %v", len(got), got[:5])
	}
	info, err := c.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 || info.Delivered.Stream != 1000 {
		t.Fatalf("consumer after all acks: pending %d, ack pending %d, delivered up to %d", info.NumPending, info.NumAckPending, info.Delivered.Stream)
	}
	// The publisher's retries are de-duplicated by Nats-Msg-Id.
	if ack := publish(t, env.JetStream(t, "acme", wire.Entra), "ENTRA.APP1", "m0999", "{}"); !ack.Duplicate {
		t.Fatal("a retried Nats-Msg-Id was stored twice")
	}
}

// storeContains reports whether any file under dir contains needle.
func storeContains(t *testing.T, dir string, needle []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = found || bytes.Contains(b, needle)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestEncryptionAtRest(t *testing.T) {
	secret := []byte("plaintext-canary-4f1d9c")
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			dir := t.TempDir()
			cfg := brokertest.Config(t, "acme")
			if encrypted {
				cfg.Nats.Server.EncryptionAtRestKey = config.Secret("a-long-at-rest-key-for-the-test")
			}
			env := brokertest.StartWith(t, cfg, dir, nil)
			publish(t, env.JetStream(t, "acme", wire.HR), "HR.SF", "c1", `{"userName":"`+string(secret)+`"}`)
			kv := env.StateKV(t, "acme", wire.HR)
			if _, err := kv.Put(ctxT(t), "user.x", secret); err != nil {
				t.Fatal(err)
			}
			env.Broker.Shutdown()
			found := storeContains(t, filepath.Join(dir, "jetstream"), secret)
			if encrypted && found {
				t.Fatal("message plaintext found in the encrypted store")
			}
			if !encrypted && !found {
				t.Fatal("control: plaintext not found in the unencrypted store (the grep would prove nothing)")
			}
			if encrypted {
				// The store reopens with the key and the message is still there.
				env = brokertest.StartWith(t, cfg, dir, nil)
				s, err := env.JetStream(t, "acme", wire.HR).Stream(ctxT(t), "acme")
				if err != nil {
					t.Fatal(err)
				}
				if n := s.CachedInfo().State.Msgs; n != 1 {
					t.Fatalf("stream after reopening the encrypted store holds %d messages", n)
				}
				e, err := env.StateKV(t, "acme", wire.HR).Get(ctxT(t), "user.x")
				if err != nil || !bytes.Equal(e.Value(), secret) {
					t.Fatalf("state after reopening the encrypted store: %v", err)
				}
			}
		})
	}
}

func TestStreamSettingsAndReload(t *testing.T) {
	env := brokertest.Start(t, "acme")
	s, err := env.JetStream(t, "acme", wire.HR).Stream(ctxT(t), "acme")
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	if c.Name != "acme" || len(c.Subjects) != 1 || c.Subjects[0] != "HR.>" || c.Retention != jetstream.LimitsPolicy ||
		c.Storage != jetstream.FileStorage || c.MaxAge != 14*24*time.Hour || c.Duplicates < 24*time.Hour {
		t.Fatalf("stream config %+v", c)
	}
	// Nothing is pre-created: the Node client creates its own durable and refuses one it did not expect.
	if n := s.CachedInfo().State.Consumers; n != 0 {
		t.Fatalf("the broker created %d consumers", n)
	}
	env.Config.Nats.Publisher["acme"].MaxAge = 3
	if err := env.Broker.Reload(context.Background(), env.Config); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []wire.Type{wire.Entra, wire.HR} {
		s, err := env.JetStream(t, "acme", typ).Stream(ctxT(t), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.MaxAge; got != 72*time.Hour {
			t.Fatalf("%s max_age after reload %v", typ, got)
		}
	}
	// A tenant added by a later bootstrap is served after the reload.
	more := brokertest.Config(t, "newco")
	// Accounts must be signed by this broker's operator: re-issue them with it.
	op := env.Config.Nats.Server.Auth.Operator
	ta := &config.TenantAccounts{}
	for _, typ := range wire.Types {
		a, err := natsauth.NewAccount(op, "newco", typ)
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case wire.Entra:
			ta.Entra = a
		case wire.HR:
			ta.HR = a
		case wire.GW:
			ta.GW = a
		}
	}
	env.Config.Nats.Server.Auth.Account["newco"] = ta
	env.Config.Nats.Publisher["newco"] = more.Nats.Publisher["newco"]
	if err := env.Broker.Reload(context.Background(), env.Config); err != nil {
		t.Fatal(err)
	}
	publish(t, env.JetStream(t, "newco", wire.Entra), "ENTRA.APP1", "n1", "{}")
	c2, _ := subscriberJS(t, env, "newco", wire.Entra, "d", "ENTRA.APP1")
	if got := drain(t, c2, 1); len(got) != 1 || got[0] != "n1" {
		t.Fatalf("new tenant's subscriber got %v", got)
	}
	// Removing the tenant again stops its publishers.
	delete(env.Config.Nats.Server.Auth.Account, "newco")
	if err := env.Broker.Reload(context.Background(), env.Config); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Broker.JetStream("newco", wire.Entra); err == nil {
		t.Fatal("a removed tenant still has a publisher")
	}
}

func TestStateKV(t *testing.T) {
	env := brokertest.Start(t, "acme", "beta")
	a := env.StateKV(t, "acme", wire.Entra)
	b := env.StateKV(t, "beta", wire.Entra)
	if a.Bucket() == b.Bucket() {
		t.Fatal("two tenants share a state bucket")
	}
	if _, err := a.Put(ctxT(t), "k", []byte("acme")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctxT(t), "k"); err == nil {
		t.Fatal("beta's bucket holds acme's key")
	}
	again := env.StateKV(t, "acme", wire.Entra)
	e, err := again.Get(ctxT(t), "k")
	if err != nil || string(e.Value()) != "acme" {
		t.Fatalf("reopened bucket: %v", err)
	}
	if _, err := env.Broker.StateKV(ctxT(t), "bad.name", wire.Entra); err == nil {
		t.Fatal("a tenant name with a dot was accepted")
	}
}
