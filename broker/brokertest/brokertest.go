// Package brokertest starts a real embedded SCIM Stream broker for tests of other packages: random port, TLS with
// a generated CA, the ENTRA, HR and GW accounts of each tenant plus the state account, all in t.TempDir().
package brokertest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// Env is a running broker with the configuration it was started from.
type Env struct {
	Broker *broker.Broker
	Config *config.Config
	// Dir holds certs/ and jetstream/.
	Dir string
	// Log receives the server's log; nil discards. Set NATS_TEST_LOG=1 to see it on stderr.
	Log *slog.Logger
}

// Config generates a complete in-memory configuration (operator, state account, ENTRA, HR and GW accounts and
// a publisher identity per tenant) without validation or files.
func Config(t testing.TB, tenants ...string) *config.Config {
	t.Helper()
	op, err := natsauth.NewOperator()
	if err != nil {
		t.Fatal(err)
	}
	c := &config.Config{Entra: map[string]*config.Tenant{}, HR: map[string]*config.Tenant{}}
	c.Nats.Server.Port = config.DefaultNatsPort
	c.Nats.Server.Auth.Operator = op
	if c.Nats.Server.Auth.State, err = natsauth.NewAccount(op, "", natsauth.State); err != nil {
		t.Fatal(err)
	}
	c.Nats.Server.Auth.Account = map[string]*config.TenantAccounts{}
	c.Nats.Publisher = map[string]*config.Publisher{}
	for _, tn := range tenants {
		ta := &config.TenantAccounts{}
		for _, typ := range wire.Types {
			a, err := natsauth.NewAccount(op, tn, typ)
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
		c.Nats.Server.Auth.Account[tn] = ta
		pub, err := natsauth.Issue(ta.Entra, natsauth.Pub, natsauth.IssueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c.Nats.Publisher[tn] = &config.Publisher{MaxAge: config.DefaultMaxAgeDays, JWT: pub.JWT, Secret: pub.Seed}
		c.Entra[tn] = &config.Tenant{}
		c.HR[tn] = &config.Tenant{}
	}
	return c
}

// Start starts a broker for tenants and stops it when the test ends.
func Start(t testing.TB, tenants ...string) *Env {
	t.Helper()
	e := &Env{Config: Config(t, tenants...), Dir: t.TempDir()}
	if os.Getenv("NATS_TEST_LOG") != "" {
		e.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e.start(t)
	return e
}

// StartWith starts a broker from a prepared configuration in dir (e.g. to restart on the same store).
func StartWith(t testing.TB, cfg *config.Config, dir string, log *slog.Logger) *Env {
	t.Helper()
	e := &Env{Config: cfg, Dir: dir, Log: log}
	e.start(t)
	return e
}

func (e *Env) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, e.Config, broker.Options{
		StoreDir: filepath.Join(e.Dir, "jetstream"),
		CertsDir: filepath.Join(e.Dir, "certs"),
		Logger:   e.Log,
		Port:     -1,
		Host:     "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Broker = b
	t.Cleanup(b.Shutdown)
}

// URL is the TLS client URL (tls://localhost:PORT).
func (e *Env) URL() string { return e.Broker.ClientURL() }

// CAFile is the generated CA for clients.
func (e *Env) CAFile() string { return e.Broker.CAFile() }

// JetStream is SCIM Stream's publisher in (tenant, typ ENTRA|HR).
func (e *Env) JetStream(t testing.TB, tenant string, typ wire.Type) jetstream.JetStream {
	t.Helper()
	js, err := e.Broker.JetStream(tenant, typ)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// StateKV is the collector state bucket of (tenant, typ).
func (e *Env) StateKV(t testing.TB, tenant string, typ wire.Type) jetstream.KeyValue {
	t.Helper()
	kv, err := e.Broker.StateKV(context.Background(), tenant, typ)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// account returns the keys of (tenant, typ).
func (e *Env) account(t testing.TB, tenant string, typ wire.Type) *config.AccountKeys {
	t.Helper()
	a, err := natsauth.TenantAccount(e.Config, tenant, typ)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return a
}

// Issue issues a user of role in (tenant, typ) with the given binding (durable or GW subject).
func (e *Env) Issue(t testing.TB, tenant string, typ wire.Type, role natsauth.Role, name string) natsauth.User {
	t.Helper()
	u, err := natsauth.Issue(e.account(t, tenant, typ), role, natsauth.IssueOptions{Name: name, Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// SubscriberCreds issues a subscriber of (tenant, typ): for ENTRA/HR a pull subscriber bound to durable ("" = any
// durable); for GW a responder bound to the GW subject given as durable ("" = every GW subject).
func (e *Env) SubscriberCreds(t testing.TB, tenant string, typ wire.Type, durable string) (jwt, seed string) {
	t.Helper()
	u := e.Issue(t, tenant, typ, natsauth.SubscriberRole(typ), durable)
	return u.JWT, u.Seed.Reveal()
}

// GatewayPublisherCreds issues a GW requester of tenant bound to subject (GW.<channel>, "" = every GW subject).
func (e *Env) GatewayPublisherCreds(t testing.TB, tenant, subject string) (jwt, seed string) {
	t.Helper()
	u := e.Issue(t, tenant, wire.GW, natsauth.GWPub, subject)
	return u.JWT, u.Seed.Reveal()
}

// Connect connects a client with a user JWT and seed over TLS, trusting the broker's CA; closed at test end.
func (e *Env) Connect(t testing.TB, jwt, seed string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := e.Dial(jwt, seed, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Dial is Connect returning the error (for tests of refused connections).
func (e *Env) Dial(jwt, seed string, opts ...nats.Option) (*nats.Conn, error) {
	all := append([]nats.Option{nats.UserJWTAndSeed(jwt, seed), nats.RootCAs(e.CAFile()), nats.MaxReconnects(0)}, opts...)
	return nats.Connect(e.URL(), all...)
}
