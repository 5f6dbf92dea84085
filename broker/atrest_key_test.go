package broker_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// TestWrongEncryptionAtRestKeyStopsStart: a store written with one encryption_at_rest_key does not start with
// another (nor without one); the error names the key, and the right key still opens it.
func TestWrongEncryptionAtRestKeyStopsStart(t *testing.T) {
	dir := t.TempDir()
	cfg := brokertest.Config(t, "acme")
	cfg.Nats.Server.EncryptionAtRestKey = config.Secret("the-right-at-rest-key-for-the-test")
	env := brokertest.StartWith(t, cfg, dir, nil)
	publish(t, env.JetStream(t, "acme", wire.HR), "HR.SF", "k1", `{"userName":"x"}`)
	env.Broker.Shutdown()

	for _, key := range []string{"a-wrong-at-rest-key-for-the-test", ""} {
		bad := *cfg
		bad.Nats.Server.EncryptionAtRestKey = config.Secret(key)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		b, err := broker.Start(ctx, &bad, broker.Options{StoreDir: filepath.Join(dir, "jetstream"), CertsDir: filepath.Join(dir, "certs"),
			Port: -1, Host: "127.0.0.1"})
		cancel()
		if err == nil {
			b.Shutdown()
			t.Fatalf("started with encryption_at_rest_key %q on a store written with another key", key)
		}
		if !strings.Contains(err.Error(), "nats.server.encryption_at_rest_key") {
			t.Fatalf("the error does not name the key: %v", err)
		}
		if key != "" && strings.Contains(err.Error(), key) {
			t.Fatalf("the error shows the key: %v", err)
		}
	}
	env = brokertest.StartWith(t, cfg, dir, nil)
	s, err := env.JetStream(t, "acme", wire.HR).Stream(ctxT(t), "acme")
	if err != nil || s.CachedInfo().State.Msgs != 1 {
		t.Fatalf("the right key: %v", err)
	}
}
