package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// TestRefusedConnectionLogNamesTheUser: an expired and a revoked credential are refused, and the broker's log says
// which user, of which account, and why — not only "authentication error".
func TestRefusedConnectionLogNamesTheUser(t *testing.T) {
	env, logs := startLogged(t, "acme")
	acc := env.Config.Nats.Server.Auth.Account["acme"]
	short, err := natsauth.Issue(acc.HR, natsauth.SubHR, natsauth.IssueOptions{Name: "durable_short", Expires: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // JWT expiry has a resolution of one second and is exclusive
	if _, err := env.Dial(short.JWT, short.Seed.Reveal()); err == nil {
		t.Fatal("an expired user connected")
	}
	logs.waitLog(t, "refused a client connection", "expired", short.PublicKey, "acme/HR", "durable_short")

	u := env.Issue(t, "acme", wire.Entra, natsauth.SubEntra, "durable_revoked")
	revoked, err := natsauth.Revoke(env.Config.Nats.Server.Auth.Operator, acc.Entra, u.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	acc.Entra = revoked
	if err := env.Broker.UpdateAccounts(context.Background(), env.Config); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Dial(u.JWT, u.Seed.Reveal()); err == nil {
		t.Fatal("a revoked user connected")
	}
	logs.waitLog(t, "refused a client connection", "revoked", u.PublicKey, "acme/ENTRA", "durable_revoked")
}
