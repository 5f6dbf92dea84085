package broker_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// closedOn returns a connection option that signals when the server drops the connection.
func closedOn(ch chan struct{}) nats.Option {
	return nats.ClosedHandler(func(*nats.Conn) { close(ch) })
}

func waitClosed(t *testing.T, ch chan struct{}, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(3 * time.Second):
		t.Fatalf("%s: connection still open", what)
		return 0
	}
}

func TestRevokeDropsConnectionAndRefusesReconnect(t *testing.T) {
	env := brokertest.Start(t, "acme")
	u := env.Issue(t, "acme", wire.Entra, natsauth.SubEntra, "durable_a")
	other := env.Issue(t, "acme", wire.Entra, natsauth.SubEntra, "durable_b")
	closed := make(chan struct{})
	env.Connect(t, u.JWT, u.Seed.Reveal(), closedOn(closed))
	keep := env.Connect(t, other.JWT, other.Seed.Reveal())

	op := env.Config.Nats.Server.Auth.Operator
	acc := env.Config.Nats.Server.Auth.Account["acme"]
	revoked, err := natsauth.Revoke(op, acc.Entra, u.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	acc.Entra = revoked
	start := time.Now()
	if err := env.Broker.UpdateAccounts(context.Background(), env.Config); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, closed, "revoked user")
	t.Logf("revoked connection closed %v after the update", time.Since(start))
	if _, err := env.Dial(u.JWT, u.Seed.Reveal()); err == nil {
		t.Fatal("revoked user connected again")
	}
	if !keep.IsConnected() {
		t.Fatal("revoking one user dropped another")
	}
	// The publisher still works after the account changed.
	publish(t, env.JetStream(t, "acme", wire.Entra), "ENTRA.APP1", "after-revoke", "{}")
}

func TestRotateRevokesEveryUserOfTheRole(t *testing.T) {
	env := brokertest.Start(t, "acme")
	var closed []chan struct{}
	for _, d := range []string{"d1", "d2"} {
		u := env.Issue(t, "acme", wire.HR, natsauth.SubHR, d)
		ch := make(chan struct{})
		env.Connect(t, u.JWT, u.Seed.Reveal(), closedOn(ch))
		closed = append(closed, ch)
	}
	old := env.Issue(t, "acme", wire.HR, natsauth.SubHR, "d3")
	entraUser := env.Issue(t, "acme", wire.Entra, natsauth.SubEntra, "d1")
	entraConn := env.Connect(t, entraUser.JWT, entraUser.Seed.Reveal())

	op := env.Config.Nats.Server.Auth.Operator
	acc := env.Config.Nats.Server.Auth.Account["acme"]
	rotated, err := natsauth.Rotate(op, acc.HR, natsauth.SubHR)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Signing["sub_hr_secret"] == acc.HR.Signing["sub_hr_secret"] {
		t.Fatal("rotate kept the signing key")
	}
	if rotated.Signing["pub_secret"] != acc.HR.Signing["pub_secret"] {
		t.Fatal("rotate changed another role's key")
	}
	acc.HR = rotated
	if err := env.Broker.UpdateAccounts(context.Background(), env.Config); err != nil {
		t.Fatal(err)
	}
	for i, ch := range closed {
		waitClosed(t, ch, "user "+string(rune('1'+i))+" of the rotated role")
	}
	if _, err := env.Dial(old.JWT, old.Seed.Reveal()); err == nil {
		t.Fatal("a user of the old key connected after rotation")
	}
	fresh := env.Issue(t, "acme", wire.HR, natsauth.SubHR, "d1")
	env.Connect(t, fresh.JWT, fresh.Seed.Reveal())
	if !entraConn.IsConnected() {
		t.Fatal("rotating sub_hr dropped an ENTRA user")
	}
	publish(t, env.JetStream(t, "acme", wire.HR), "HR.SF", "after-rotate", "{}")

	// Rotating pub drops SCIM Stream's own publisher, which reconnects with a JWT of the new key.
	rotated, err = natsauth.Rotate(op, acc.Entra, natsauth.Pub)
	if err != nil {
		t.Fatal(err)
	}
	acc.Entra = rotated
	if err := env.Broker.Reload(context.Background(), env.Config); err != nil {
		t.Fatal(err)
	}
	publish(t, env.JetStream(t, "acme", wire.Entra), "ENTRA.APP1", "after-pub-rotate", "{}")
}

func TestExpiredUserRefused(t *testing.T) {
	env := brokertest.Start(t, "acme")
	acc := env.Config.Nats.Server.Auth.Account["acme"].Entra
	u, err := natsauth.Issue(acc, natsauth.SubEntra, natsauth.IssueOptions{Name: "d", Expires: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	env.Connect(t, u.JWT, u.Seed.Reveal(), closedOn(closed))
	select {
	case <-closed:
	case <-time.After(4 * time.Second):
		t.Fatal("connection of an expired user still open")
	}
	time.Sleep(time.Second) // expiry has one-second resolution
	if _, err := env.Dial(u.JWT, u.Seed.Reveal()); err == nil {
		t.Fatal("expired user connected")
	}
}

func TestTLS(t *testing.T) {
	env := brokertest.Start(t, "acme")
	jwt, seed := env.SubscriberCreds(t, "acme", wire.Entra, "d")
	if !strings.HasPrefix(env.URL(), "tls://localhost:") {
		t.Fatalf("client URL %q", env.URL())
	}
	nc := env.Connect(t, jwt, seed)
	if nc.ConnectedServerName() != "SCIM-Stream" {
		t.Fatalf("server_name %q", nc.ConnectedServerName())
	}
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Fatalf("connection is not TLS: %v", err)
	}
	// The generated certificate names 127.0.0.1 too (nats:// URLs upgrade to TLS when the server requires it).
	ip := strings.Replace(env.URL(), "tls://localhost", "nats://127.0.0.1", 1)
	nc2, err := nats.Connect(ip, nats.UserJWTAndSeed(jwt, seed), nats.RootCAs(env.CAFile()), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("nats://127.0.0.1 with the CA: %v", err)
	}
	nc2.Close()
	// Without the CA (system roots only) the certificate is refused.
	_, err = nats.Connect(env.URL(), nats.UserJWTAndSeed(jwt, seed), nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}), nats.MaxReconnects(0))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("client without the CA: %v", err)
	}
	// Without TLS at all the server refuses.
	if _, err := nats.Connect(ip, nats.UserJWTAndSeed(jwt, seed), nats.MaxReconnects(0)); err == nil {
		t.Fatal("client without TLS connected")
	}
	// No credentials, or a user of a foreign operator: refused.
	if _, err := nats.Connect(env.URL(), nats.RootCAs(env.CAFile()), nats.MaxReconnects(0)); err == nil {
		t.Fatal("anonymous client connected")
	}
	foreign := brokertest.Config(t, "acme")
	fu, err := natsauth.Issue(foreign.Nats.Server.Auth.Account["acme"].Entra, natsauth.SubEntra, natsauth.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Dial(fu.JWT, fu.Seed.Reveal()); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("user of another operator: %v", err)
	}
}

func TestGatewayRequestReply(t *testing.T) {
	env := brokertest.Start(t, "acme")
	pj, ps := env.GatewayPublisherCreds(t, "acme", "GW.APPX")
	sj, ss := env.SubscriberCreds(t, "acme", wire.GW, "GW.APPX")
	pubc := connect(t, env, pj, ps)
	subc := connect(t, env, sj, ss)
	// Responders subscribe in the queue group named like the subject: no other queue, no plain subscription.
	if _, err := subc.QueueSubscribe("GW.APPX", "GW.APPX", func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"status":200,"body":"` + m.Header.Get("Msg-Id") + `"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := subc.Flush(); err != nil {
		t.Fatal(err)
	}
	req := nats.NewMsg("GW.APPX")
	req.Header.Set("Msg-Id", "r1")
	resp, err := pubc.RequestMsg(req, time.Second)
	if err != nil {
		t.Fatalf("GW request: %v", err)
	}
	if !strings.Contains(string(resp.Data), "r1") {
		t.Fatalf("reply %s", resp.Data)
	}
	pubc.deniedPub(t, "GW.OTHER", "{}") // bound to GW.APPX
	subc.deniedPub(t, "GW.APPX", "{}")  // a responder only answers
	pubc.deniedPub(t, "$JS.API.STREAM.INFO.acme", "{}")
	if _, err := subc.SubscribeSync("GW.OTHER"); err != nil {
		t.Fatal(err)
	}
	subc.denied(t, "GW.OTHER")
	// There is no JetStream in the GW account: nothing would store or ack requests.
	fj, fs := fullUser(t, env.Config.Nats.Server.Auth.Account["acme"].GW)
	js, _ := jetstream.New(connect(t, env, fj, fs).Conn)
	if _, err := js.AccountInfo(ctxT(t)); err == nil {
		t.Fatal("JetStream is enabled in the GW account")
	}
	if _, err := env.Broker.JetStream("acme", wire.GW); err == nil {
		t.Fatal("JetStream(GW) returned a publisher")
	}
}
