package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
)

// Cluster mode (nats.server.cluster). The Node SCIM Gateway insists on server_name SCIM-Stream, and nats-server
// refuses a route between two servers of the same name, so each node runs two servers in this process:
//
//   - the hub, "SCIM-Stream-<node>": JetStream in domain natsauth.HubDomain, routes to the other nodes' hubs
//     (raft-replicated streams and KV), a client port on loopback that only this process uses, and a leaf node
//     listener on loopback;
//   - the front, "SCIM-Stream": the only port subscribers use (nats.server.port, TLS), no JetStream, joined to its
//     own hub as a leaf node with one connection per account (broker.Accounts, except the internal state
//     account, which is therefore unreachable from outside). Its copies of the accounts map the JetStream API
//     into the hub's domain (natsauth.FrontAccountJWT).
//
// SCIM Stream's own publishers and state clients connect to the hub in-process. A subscriber given every node's
// URL reconnects to another front when a node dies, and always sees SCIM-Stream.

// HubName is the server name of node's hub.
func HubName(node string) string { return ServerName + "-" + node }

// clusterName is the name of the hubs' cluster; the fronts each get a unique one of their own (see startFront).
const clusterName = "scim-stream"

// routeURLs parses nats.server.cluster.routes into route URLs carrying the route credentials.
func routeURLs(c *config.Cluster, pass string) ([]*url.URL, error) {
	var out []*url.URL
	for i, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("broker: nats.server.cluster.routes[%d]: %q is not a route URL such as nats-route://node-b:%d", i, r, config.DefaultClusterPort)
		}
		u.Scheme = "nats-route"
		u.User = url.UserPassword("route", pass)
		out = append(out, u)
	}
	return out, nil
}

// startCluster starts this node's hub and front from the single-node options base (TLS, operator, resolver).
func (b *Broker) startCluster(cfg *config.Config, base *server.Options) error {
	s := cfg.Nats.Server
	c := s.Cluster
	pass := natsauth.RoutePassword(s.Auth.Operator)
	routes, err := routeURLs(c, pass)
	if err != nil {
		return err
	}
	hub := *base
	hub.ServerName = HubName(c.Name)
	// Not DontListen: a clustered server that does not listen for clients never finishes starting (v2.15).
	hub.Host, hub.Port = "127.0.0.1", server.RANDOM_PORT
	hub.JetStreamDomain = natsauth.HubDomain
	hub.Cluster = server.ClusterOpts{
		Name: clusterName, Host: "0.0.0.0", Port: c.Port, Username: "route", Password: pass,
		TLSConfig: b.routeTLS(base.TLSConfig), TLSTimeout: 2,
	}
	hub.Routes = routes
	hub.LeafNode = server.LeafNodeOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT}
	hubSrv, err := b.startOne(&hub, "hub", fmt.Sprintf("route port %d (nats.server.cluster.port)", c.Port))
	if err != nil {
		return err
	}
	b.srv = hubSrv
	leafURL, err := hubLeafURL(hubSrv)
	if err != nil {
		hubSrv.Shutdown()
		return err
	}

	front, err := b.frontOptions(cfg, base, leafURL)
	if err != nil {
		hubSrv.Shutdown()
		return err
	}
	frontSrv, err := b.startOne(front, "front", fmt.Sprintf("port %d (nats.server.port)", front.Port))
	if err != nil {
		hubSrv.Shutdown()
		return err
	}
	b.front, b.frontOpts, b.hubLeaf = frontSrv, front, leafURL
	b.url = fmt.Sprintf("tls://localhost:%d", frontSrv.Addr().(*net.TCPAddr).Port)
	// The leaf connections come up in milliseconds; a subscriber arriving before would get no responders.
	want := len(front.LeafNode.Remotes)
	for deadline := time.Now().Add(10 * time.Second); frontSrv.NumLeafNodes() < want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	b.log.Info("nats cluster node listening", "url", b.url, "server_name", ServerName, "node", c.Name,
		"hub", hub.ServerName, "route_port", c.Port, "routes", len(routes), "replicas", s.Replicas(),
		"leaf_connections", frontSrv.NumLeafNodes(), "jetstream", hub.StoreDir)
	return nil
}

// routeTLS is the TLS of the route port: the client port's certificate, and the peers' certificates verified
// against the same CA (the certificate must name every node's route host: bootstrap -nodes).
func (b *Broker) routeTLS(client *tls.Config) *tls.Config {
	t := client.Clone()
	t.RootCAs = b.clientTLS.RootCAs
	return t
}

// frontOptions are the front's options: SCIM-Stream on the client port, the accounts' front copies, one leaf
// remote per account towards the hub.
func (b *Broker) frontOptions(cfg *config.Config, base *server.Options, leafURL *url.URL) (*server.Options, error) {
	s := cfg.Nats.Server
	b.frontResolver = &server.MemAccResolver{}
	sys, err := jwt.DecodeAccountClaims(s.Auth.Operator.SysAccountJWT)
	if err != nil {
		return nil, fmt.Errorf("broker: nats.server.auth.operator.sys_account_jwt: %w", err)
	}
	if err := b.frontResolver.Store(sys.Subject, s.Auth.Operator.SysAccountJWT); err != nil {
		return nil, err
	}
	front := &server.Options{
		ServerName:       ServerName,
		Host:             base.Host,
		Port:             base.Port,
		TrustedOperators: base.TrustedOperators,
		SystemAccount:    sys.Subject,
		AccountResolver:  b.frontResolver,
		TLS:              true,
		TLSConfig:        base.TLSConfig,
		TLSTimeout:       base.TLSTimeout,
		Trace:            base.Trace,
		NoSigs:           true,
		// A hub keeps one leaf connection per (server name, cluster name, account): every front is called
		// SCIM-Stream, so without a cluster name of their own two fronts would evict each other forever.
		Cluster: server.ClusterOpts{Name: "front-" + s.Cluster.Name},
	}
	for _, a := range frontAccounts(cfg) {
		pub, err := natsauth.AccountPublicKey(a.Keys)
		if err != nil {
			return nil, fmt.Errorf("broker: account %s: %w", a.Name(), err)
		}
		t, err := natsauth.FrontAccountJWT(s.Auth.Operator, a.Keys.JWT)
		if err != nil {
			return nil, fmt.Errorf("broker: account %s: %w", a.Name(), err)
		}
		if err := b.frontResolver.Store(pub, t); err != nil {
			return nil, err
		}
		front.LeafNode.Remotes = append(front.LeafNode.Remotes, b.leafRemote(a, pub, leafURL))
	}
	return front, nil
}

// frontAccounts are the accounts subscribers reach through the front: every account but the internal state one.
func frontAccounts(cfg *config.Config) []Account {
	var out []Account
	for _, a := range Accounts(cfg) {
		if a.Type != natsauth.State {
			out = append(out, a)
		}
	}
	return out
}

// leafRemote is the front's leaf connection of account a (public key pub) to its hub.
func (b *Broker) leafRemote(a Account, pub string, hub *url.URL) *server.RemoteLeafOpts {
	name := "front " + a.Name()
	return &server.RemoteLeafOpts{
		LocalAccount: pub,
		URLs:         []*url.URL{hub},
		SignatureCB: func(nonce []byte) (string, []byte, error) {
			// The account keys of the current configuration (they never change for an existing account).
			keys := accountOf(b.cfg.Load(), a)
			if keys == nil {
				return "", nil, fmt.Errorf("account %s is no longer configured", a.Name())
			}
			t, kp, err := natsauth.LeafUser(keys, name)
			if err != nil {
				return "", nil, err
			}
			defer kp.Wipe()
			sig, err := kp.Sign(nonce)
			return t, sig, err
		},
	}
}

// updateFront applies the configuration's accounts to the front: changed JWTs (revocations, rotated signing keys)
// at once, new accounts through a reload of the front's leaf remotes.
func (b *Broker) updateFront(cfg *config.Config) error {
	if b.front == nil {
		return nil
	}
	op := cfg.Nats.Server.Auth.Operator
	added := false
	for _, a := range frontAccounts(cfg) {
		pub, err := natsauth.AccountPublicKey(a.Keys)
		if err != nil {
			return fmt.Errorf("broker: front: %w", err)
		}
		t, err := natsauth.FrontAccountJWT(op, a.Keys.JWT)
		if err != nil {
			return fmt.Errorf("broker: front: %w", err)
		}
		if _, err := b.frontResolver.Fetch(pub); err != nil {
			added = true
		}
		if err := b.frontResolver.Store(pub, t); err != nil {
			return err
		}
		if acc, err := b.front.LookupAccount(pub); err == nil {
			if ac, err := jwt.DecodeAccountClaims(t); err == nil {
				b.front.UpdateAccountClaims(acc, ac)
			}
		}
	}
	if added {
		// New tenants' accounts need leaf remotes of their own. nats-server cannot reload remotes that sign with a
		// callback, so the front restarts with them: its clients reconnect within a second (here or elsewhere).
		opts := b.frontOpts.Clone()
		opts.TrustedKeys = nil // derived from TrustedOperators at start; both set do not validate
		opts.LeafNode.Remotes = nil
		for _, a := range frontAccounts(cfg) {
			pub, _ := natsauth.AccountPublicKey(a.Keys)
			opts.LeafNode.Remotes = append(opts.LeafNode.Remotes, b.leafRemote(a, pub, b.hubLeaf))
		}
		b.front.Shutdown()
		b.front.WaitForShutdown()
		front, err := b.startOne(opts, "front", fmt.Sprintf("port %d (nats.server.port)", opts.Port))
		if err != nil {
			return fmt.Errorf("broker: restarting the cluster front for new accounts: %w", err)
		}
		for deadline := time.Now().Add(10 * time.Second); front.NumLeafNodes() < len(opts.LeafNode.Remotes) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		b.front, b.frontOpts = front, opts
		b.log.Info("cluster front restarted with new accounts' leaf connections", "leaf_connections", front.NumLeafNodes())
	}
	return nil
}

// startOne starts srv and waits until it accepts connections; a listen error (port in use) fails at once.
func (b *Broker) startOne(o *server.Options, part, port string) (*server.Server, error) {
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("broker: nats %s options: %w", part, err)
	}
	var fatal atomic.Pointer[string]
	l := b.log.With("server", part)
	srv.SetLoggerV2(serverLog{l: l, fatal: &fatal}, l.Enabled(context.Background(), slog.LevelDebug), o.Trace, false)
	srv.Start()
	for deadline := time.Now().Add(20 * time.Second); !srv.ReadyForConnections(25 * time.Millisecond); {
		if m := fatal.Load(); m != nil {
			srv.Shutdown()
			return nil, fmt.Errorf("broker: nats %s on %s: %s (choose a free port)", part, port, *m)
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			return nil, fmt.Errorf("broker: nats %s on %s did not start within 20s", part, port)
		}
	}
	return srv, nil
}

// Node is this node's name in cluster mode ("" on a single node or with an external server).
func (b *Broker) Node() string {
	if c := b.cfg.Load().Nats.Server.Cluster; c != nil && !b.cfg.Load().Nats.Server.UseExternalServer {
		return c.Name
	}
	return ""
}

// Clustered reports whether several SCIM Stream processes share this broker's state: nats.server.cluster is set
// (cluster mode, or an external cluster with its replicas). The collectors then take a lease per (tenant, type)
// before collecting.
func (b *Broker) Clustered() bool { return b.cfg.Load().Nats.Server.Cluster != nil }

// isClusterNotReady reports whether a JetStream error means the cluster is not ready yet (no meta leader, not enough
// nodes for the replicas): worth waiting for in cluster mode.
func isClusterNotReady(err error) bool {
	m := err.Error()
	return strings.Contains(m, "insufficient resources") || strings.Contains(m, "no suitable peers") ||
		strings.Contains(m, "JetStream system temporarily unavailable") || strings.Contains(m, "jetstream not enabled") ||
		strings.Contains(m, "no responders") || strings.Contains(m, "timeout") || strings.Contains(m, "deadline exceeded")
}

// hubLeafURL is the hub's leaf node listener (a random loopback port).
func hubLeafURL(hub *server.Server) (*url.URL, error) {
	v, err := hub.Varz(nil)
	if err != nil || v.LeafNode.Port <= 0 {
		return nil, fmt.Errorf("broker: the nats hub has no leaf node listener (%v)", err)
	}
	return &url.URL{Scheme: "nats-leaf", Host: net.JoinHostPort("127.0.0.1", fmt.Sprint(v.LeafNode.Port))}, nil
}

// waitForCluster repeats op while the cluster is not ready (a node starting alone waits for its peers; a stream
// of 3 replicas waits for 3 nodes), logging every 10 s, until it succeeds, fails otherwise or ctx ends.
func waitForCluster(ctx context.Context, log *slog.Logger, what string, op func(ctx context.Context) error) error {
	start, lastLog := time.Now(), time.Now()
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := op(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !isClusterNotReady(err) {
			return err
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			log.Warn("waiting for the NATS cluster (its other nodes, or enough of them for the replicas)", "for", what,
				"waited", time.Since(start).Round(time.Second), "error", err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// LeaseKV returns (creating it when missing) the bucket of the collectors' leases in the internal state account:
// one key per (tenant, type), held by the node whose collector runs it (collector.Lease).
func (b *Broker) LeaseKV(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	if st == nil {
		return nil, errors.New("broker: nats.server.auth.state is missing: run scim-stream bootstrap again to add it")
	}
	var kv jetstream.KeyValue
	err := waitForCluster(ctx, b.log, "the lease bucket", func(ctx context.Context) (err error) {
		kv, err = st.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      LeaseBucket,
			Description: "SCIM Stream collector leases: which node collects each (tenant, type)",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    b.cfg.Load().Nats.Server.Replicas(),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("broker: lease bucket %s: %w", LeaseBucket, err)
	}
	return kv, nil
}

// LeaseBucket is the KV bucket of the collector leases.
const LeaseBucket = "collector_leases"

// Config is the configuration snapshot the broker runs on.
func (b *Broker) Config() *config.Config { return b.cfg.Load() }
