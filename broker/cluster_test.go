package broker_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// startCluster starts three cluster nodes of one configuration in this process (each its own store, one shared
// certificate directory as bootstrap writes it), and returns them with their client URLs.
func startCluster(t *testing.T, tenants ...string) ([]*broker.Broker, []string, string, *config.Config) {
	t.Helper()
	base := brokertest.Config(t, tenants...)
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	c, err := broker.EnsureCerts(certs, base.Nats.Server.Certificate, broker.CertHosts(nil))
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 6) // 3 client ports, 3 route ports
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
	}
	bs := make([]*broker.Broker, 3)
	urls := make([]string, 3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		cfg := *base
		cfg.Nats.Server.Cluster = &config.Cluster{Name: fmt.Sprintf("n%d", i), Port: ports[3+i], Routes: routes, Replicas: 3}
		cfg.Nats.Server.Port = ports[i]
		urls[i] = fmt.Sprintf("tls://localhost:%d", ports[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			bs[i], errs[i] = broker.Start(ctx, &cfg, broker.Options{StoreDir: filepath.Join(dir, fmt.Sprint(i), "jetstream"),
				CertsDir: certs, Host: "127.0.0.1"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(bs[i].Shutdown)
	}
	return bs, urls, c.CAFile, base
}

// TestClusterSubscriberFailsOver: three nodes, a subscriber with the credentials creds issues and all three URLs
// sees SCIM-Stream, pulls what a node published, and goes on pulling through another front after its node stops.
func TestClusterSubscriberFailsOver(t *testing.T) {
	bs, urls, ca, cfg := startCluster(t, "acme", "other")
	u, err := natsauth.IssueSubscriber(cfg, "acme", wire.HR, "HR.SF", "d1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(urls[0]+","+urls[1]+","+urls[2], nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca),
		nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.ConnectedServerName() != broker.ServerName {
		t.Fatalf("server_name %q", nc.ConnectedServerName())
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, "acme", jetstream.ConsumerConfig{Durable: "d1", FilterSubject: "HR.SF",
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := cons.Info(ctx)
	if info.Config.Replicas != 0 && info.Config.Replicas != 3 {
		t.Logf("consumer replicas %d", info.Config.Replicas)
	}
	pub := func(b *broker.Broker, i int) {
		pjs, err := b.JetStream("acme", wire.HR)
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg("HR.SF")
		m.Data = []byte(fmt.Sprintf(`{"n":%d}`, i))
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprint(i))
		if _, err := pjs.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	sinfo, err := bs[1].JetStream("acme", wire.HR)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sinfo.Stream(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if st.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("stream replicas %d, want 3", st.CachedInfo().Config.Replicas)
	}
	pub(bs[1], 1)
	got := fetch(t, cons, 1)
	if len(got) != 1 {
		t.Fatalf("got %d messages", len(got))
	}
	// A user of another tenant reaches nothing of acme through any front.
	o, _ := natsauth.IssueSubscriber(cfg, "other", wire.HR, "HR.SF", "d1", time.Hour)
	onc, err := nats.Connect(urls[2], nats.UserJWTAndSeed(o.JWT, o.Seed.Reveal()), nats.RootCAs(ca))
	if err != nil {
		t.Fatal(err)
	}
	ojs, _ := jetstream.New(onc)
	octx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := ojs.Consumer(octx, "acme", "d1"); err == nil {
		t.Fatal("a user of tenant other read acme's consumer")
	}
	cancel()
	onc.Close()

	bs[0].Shutdown() // the subscriber's node
	start := time.Now()
	pub(bs[2], 2)
	got = fetch(t, cons, 1)
	if len(got) != 1 || nc.ConnectedServerName() != broker.ServerName {
		t.Fatalf("after the node stopped: %d messages, server %q", len(got), nc.ConnectedServerName())
	}
	t.Logf("first message after the node stopped: %v (reconnected to %s)", time.Since(start), nc.ConnectedUrl())
}

func fetch(t *testing.T, cons jetstream.Consumer, n int) []jetstream.Msg {
	t.Helper()
	var out []jetstream.Msg
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		b, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			continue
		}
		for m := range b.Messages() {
			out = append(out, m)
			_ = m.Ack()
		}
	}
	return out
}

// TestClusterReloadAddsTenantAndRevokes: a tenant added by hot reload is served through every front (new leaf
// connections), and a revoked user is refused by the fronts.
func TestClusterReloadAddsTenantAndRevokes(t *testing.T) {
	bs, urls, ca, cfg := startCluster(t, "acme")
	ctx := context.Background()
	op := cfg.Nats.Server.Auth.Operator
	ta := &config.TenantAccounts{}
	var err error
	if ta.Entra, err = natsauth.NewAccount(op, "beta", wire.Entra); err != nil {
		t.Fatal(err)
	}
	if ta.HR, err = natsauth.NewAccount(op, "beta", wire.HR); err != nil {
		t.Fatal(err)
	}
	if ta.GW, err = natsauth.NewAccount(op, "beta", wire.GW); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		c := *b.Config()
		c.Nats.Server.Auth.Account = map[string]*config.TenantAccounts{"acme": cfg.Nats.Server.Auth.Account["acme"], "beta": ta}
		c.HR = map[string]*config.Tenant{"acme": {}, "beta": {}}
		c.Entra = map[string]*config.Tenant{"acme": {}, "beta": {}}
		c.Nats.Publisher = map[string]*config.Publisher{"acme": cfg.Nats.Publisher["acme"], "beta": {MaxAge: 14}}
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		if err := b.Reload(rctx, &c); err != nil {
			cancel()
			t.Fatalf("reload: %v", err)
		}
		cancel()
	}
	u, err := natsauth.Issue(ta.HR, natsauth.SubHR, natsauth.IssueOptions{Name: "d", Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	nc, err := nats.Connect(urls[1], nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca), nats.MaxReconnects(0),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(cctx, "beta", jetstream.ConsumerConfig{Durable: "d", FilterSubject: "HR.SF",
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy}); err != nil {
		t.Fatalf("the new tenant's subscriber through a front: %v", err)
	}
	// Revoke it: every node reloads the revoked account JWT, and its front drops the connection.
	revoked, err := natsauth.Revoke(op, ta.HR, u.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		c := *b.Config()
		acc := *c.Nats.Server.Auth.Account["beta"]
		acc.HR = revoked
		c.Nats.Server.Auth.Account = map[string]*config.TenantAccounts{"acme": c.Nats.Server.Auth.Account["acme"], "beta": &acc}
		if err := b.Reload(ctx, &c); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked user's connection to a front stayed open")
	}
	if _, err := nats.Connect(urls[2], nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca), nats.MaxReconnects(0)); err == nil {
		t.Fatal("a front accepted the revoked user")
	}
}
