package broker_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// TestNoSecretInBrokerLog runs the broker with trace and debug logging (the most it ever logs), with encryption at
// rest, through a publish, a subscriber's pull and ack, a permission violation and a revocation, and checks that
// no seed or key of the configuration or of the subscriber appears in the log.
func TestNoSecretInBrokerLog(t *testing.T) {
	cfg := brokertest.Config(t, "acme")
	cfg.Nats.Server.Trace = true
	cfg.Nats.Server.EncryptionAtRestKey = "at-rest-key-not-for-logs"
	lb := &logBuf{}
	env := brokertest.StartWith(t, cfg, t.TempDir(), slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))

	publish(t, env.JetStream(t, "acme", wire.Entra), "ENTRA.APP1", "m1", `{"userName":"a"}`)
	u := env.Issue(t, "acme", wire.Entra, natsauth.SubEntra, "durable_a")
	nc := env.Connect(t, u.JWT, u.Seed.Reveal())
	c := consumerOn(t, nc, "acme", "durable_a", "ENTRA.APP1")
	if got := drain(t, c, 1); len(got) != 1 {
		t.Fatalf("pulled %v", got)
	}
	if err := nc.Publish("ENTRA.APP1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	lb.waitLog(t, "Publish Violation", u.PublicKey)
	acc := env.Config.Nats.Server.Auth.Account["acme"]
	revoked, err := natsauth.Revoke(env.Config.Nats.Server.Auth.Operator, acc.Entra, u.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	acc.Entra = revoked
	if err := env.Broker.Reload(context.Background(), env.Config); err != nil {
		t.Fatal(err)
	}
	env.Broker.Shutdown()

	out := lb.String()
	if !strings.Contains(out, "CONNECT") {
		t.Fatalf("control: trace did not log the protocol, so the scan proves little:\n%.2000s", out)
	}
	secrets := []string{u.Seed.Reveal()}
	for _, s := range env.Config.Secrets() {
		secrets = append(secrets, s.Reveal())
	}
	if len(secrets) < 10 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the broker log shows a secret (%d characters, starting %.4s…)", len(s), s)
		}
	}
}
