package gateway

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/natsauth"
)

// TestRefusedCredentialLogged: the error a real broker returns for an expired credential becomes a gateway log
// line naming the user and the expiry, and telling what to do; an unrelated error does not.
func TestRefusedCredentialLogged(t *testing.T) {
	env := brokertest.Start(t, "acme")
	acc := env.Config.Nats.Server.Auth.Account["acme"]
	u, err := natsauth.Issue(acc.HR, natsauth.SubHR, natsauth.IssueOptions{Name: "durable_x", Expires: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // past the expiry (one-second resolution)
	_, err = env.Dial(u.JWT, u.Seed.Reveal())
	if err == nil {
		t.Fatal("an expired credential connected")
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	if !LogIfRefused(log, err, u.JWT, "entity", "undefined") {
		t.Fatalf("the broker's refusal %v was not recognised", err)
	}
	for _, want := range []string{"expired at", u.PublicKey, "durable_x", "scim-stream creds", "entity=undefined"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q: %s", want, buf.String())
		}
	}
	if LogIfRefused(log, nats.ErrTimeout, u.JWT) {
		t.Error("a time-out was taken for a refused credential")
	}
}
