// Package broker runs SCIM Stream's embedded nats-server — server name SCIM-Stream, TLS on the client port,
// decentralized JWT auth with one account per (tenant, collector type), JetStream file store — and holds SCIM
// Stream's own connections: a publisher per (tenant, ENTRA|HR) account, whose stream <tenant> it creates and keeps
// in line with the configuration, and a client of the internal state account for the collectors' KV buckets.
// With nats.server.use_external_server it starts nothing and connects to the configured URLs instead.
package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// ServerName is what the server announces in INFO; the Node SCIM Gateway closes the connection on any other value.
const ServerName = "SCIM-Stream"

// Options are the process-level settings that are not in the configuration file.
type Options struct {
	// StoreDir is the JetStream store (and account JWT store) directory; default config/jetstream.
	StoreDir string
	// CertsDir holds nats.server.certificate files; default config/certs.
	CertsDir string
	// Logger receives the server's log (secrets are never logged); nil discards it.
	Logger *slog.Logger
	// Port overrides nats.server.port: 0 uses the configuration, -1 picks a free port (tests).
	Port int
	// Host is the client listen address; default 0.0.0.0.
	Host string
}

// accountKey names a (tenant, type) account or, with channel, a channel account.
type accountKey struct {
	tenant  string
	typ     wire.Type
	channel string
}

// publisher is SCIM Stream's connection to one (tenant, type) account.
type publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// Broker is a running embedded server (or a connection to an external one) with SCIM Stream's own clients.
type Broker struct {
	log       *slog.Logger
	srv       *server.Server // nil with an external server
	resolver  *server.DirAccResolver
	certs     Certs
	clientTLS *tls.Config
	url       string

	// cfg is the current snapshot; publishers' JWT callbacks read it while b.mu may be held.
	cfg atomic.Pointer[config.Config]

	mu    sync.Mutex
	pubs  map[accountKey]*publisher
	state *publisher
	// sys watches refused connections (embedded server only).
	sys *nats.Conn

	// Cluster mode (cluster.go): srv is this node's hub, front the SCIM-Stream server subscribers connect to.
	front         *server.Server
	frontResolver *server.MemAccResolver
	frontOpts     *server.Options
	hubLeaf       *url.URL

	// lost is the last connection loss of each account name (health.go).
	lost sync.Map
}

// Start starts the embedded server (unless nats.server.use_external_server), connects SCIM Stream's publishers and
// ensures every tenant's streams. ctx bounds the start-up only.
func Start(ctx context.Context, cfg *config.Config, opts Options) (*Broker, error) {
	if opts.StoreDir == "" {
		opts.StoreDir = filepath.Join("config", "jetstream")
	}
	if opts.CertsDir == "" {
		opts.CertsDir = filepath.Join("config", "certs")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	auth := cfg.Nats.Server.Auth
	if auth.Operator.JWT == "" || auth.Operator.SysAccountJWT == "" {
		return nil, errors.New("broker: nats.server.auth.operator is missing: run scim-stream bootstrap -entra <tenant> -hr <tenant>")
	}
	b := &Broker{log: opts.Logger, pubs: map[accountKey]*publisher{}}
	b.cfg.Store(cfg)
	var err error
	if cfg.Nats.Server.UseExternalServer {
		b.certs, err = existingCA(opts.CertsDir, cfg.Nats.Server.Certificate)
	} else {
		b.certs, err = EnsureCerts(opts.CertsDir, cfg.Nats.Server.Certificate, CertHosts(cfg.Nats.Server.Hosts))
		if err == nil && b.certs.Generated {
			b.log.Info("generated a CA and server certificate for the NATS client port; subscribers need the CA file",
				"ca", b.certs.CAFile, "cert", b.certs.CertFile)
		}
		if err == nil && len(b.certs.Reissued) > 0 {
			b.log.Info("issued a new server certificate by the same CA for host names it did not have",
				"hosts", strings.Join(b.certs.Reissued, ","), "cert", b.certs.CertFile)
		}
		// Only the configured names matter for a certificate the operator provided: it need not name localhost.
		var missing []string
		for _, h := range b.certs.Missing {
			if slices.Contains(cfg.Nats.Server.Hosts, h) {
				missing = append(missing, h)
			}
		}
		if len(missing) > 0 {
			b.log.Warn("the server certificate does not name these nats.server.hosts, so TLS verification fails for "+
				"subscribers that connect by them: provide a certificate that names them",
				"hosts", strings.Join(missing, ","), "cert", b.certs.CertFile)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.clientTLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(b.certs.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b.certs.CAPEM) {
			return nil, fmt.Errorf("broker: %s holds no PEM certificate", b.certs.CAFile)
		}
		b.clientTLS.RootCAs = pool
	}
	if !cfg.Nats.Server.UseExternalServer {
		if err := b.startServer(cfg, opts); err != nil {
			return nil, err
		}
	}
	if err := b.connectAll(ctx, cfg); err != nil {
		b.Shutdown()
		return nil, err
	}
	return b, nil
}

func (b *Broker) startServer(cfg *config.Config, o Options) error {
	s := cfg.Nats.Server
	oc, err := jwt.DecodeOperatorClaims(s.Auth.Operator.JWT)
	if err != nil {
		return fmt.Errorf("broker: nats.server.auth.operator.jwt: %w", err)
	}
	sys, err := jwt.DecodeAccountClaims(s.Auth.Operator.SysAccountJWT)
	if err != nil {
		return fmt.Errorf("broker: nats.server.auth.operator.sys_account_jwt: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(b.certs.CertFile, b.certs.KeyFile)
	if err != nil {
		return fmt.Errorf("broker: nats.server.certificate (%s, %s): %w", b.certs.CertFile, b.certs.KeyFile, err)
	}
	if err := checkAtRestKey(o.StoreDir, s.EncryptionAtRestKey); err != nil {
		return err
	}
	b.resolver, err = server.NewDirAccResolver(filepath.Join(o.StoreDir, "accounts"), 0, time.Minute, server.NoDelete)
	if err != nil {
		return fmt.Errorf("broker: account store %s: %w", filepath.Join(o.StoreDir, "accounts"), err)
	}
	if err := b.resolver.Store(sys.Subject, s.Auth.Operator.SysAccountJWT); err != nil {
		return fmt.Errorf("broker: storing the system account: %w", err)
	}
	if err := b.storeAccounts(cfg); err != nil {
		return err
	}
	port := s.Port
	if o.Port != 0 {
		port = o.Port
	}
	host := o.Host
	if host == "" {
		host = "0.0.0.0"
	}
	sopts := &server.Options{
		ServerName:       ServerName,
		Host:             host,
		Port:             port,
		TrustedOperators: []*jwt.OperatorClaims{oc},
		SystemAccount:    sys.Subject,
		AccountResolver:  b.resolver,
		TLS:              true,
		TLSConfig:        &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		TLSTimeout:       2,
		JetStream:        true,
		StoreDir:         o.StoreDir,
		JetStreamKey:     s.EncryptionAtRestKey.Reveal(),
		Trace:            s.Trace,
		NoSigs:           true,
		// The ASCII art would land in the JSON or text log as a dozen lines.
		DisableJetStreamBanner: true,
	}
	if s.MonitorPort > 0 {
		sopts.HTTPHost, sopts.HTTPPort = "127.0.0.1", s.MonitorPort
	}
	if s.Cluster != nil {
		return b.startCluster(cfg, sopts)
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return fmt.Errorf("broker: nats server options: %w", err)
	}
	var fatal atomic.Pointer[string]
	srv.SetLoggerV2(serverLog{l: b.log, fatal: &fatal}, b.log.Enabled(context.Background(), slog.LevelDebug), s.Trace, false)
	srv.Start()
	// A listen error (port in use) arrives through Fatalf; fail at once instead of waiting for the time-out.
	for deadline := time.Now().Add(10 * time.Second); !srv.ReadyForConnections(25 * time.Millisecond); {
		if m := fatal.Load(); m != nil {
			srv.Shutdown()
			return fmt.Errorf("broker: nats server on port %d: %s (set nats.server.port to a free port)", port, *m)
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			return fmt.Errorf("broker: nats server on port %d did not start within 10s", port)
		}
	}
	b.srv = srv
	if err := b.watchAuthErrors(); err != nil {
		b.srv = nil
		srv.Shutdown()
		return err
	}
	b.url = fmt.Sprintf("tls://localhost:%d", srv.Addr().(*net.TCPAddr).Port)
	b.log.Info("nats server listening", "url", b.url, "server_name", ServerName, "jetstream", o.StoreDir,
		"encryption_at_rest", s.EncryptionAtRestKey != "", "monitor_port", s.MonitorPort)
	return nil
}

// existingCA reads the CA file for clients of an external server, if there is one.
func existingCA(dir string, c config.Certificate) (Certs, error) {
	name := c.CAFile
	if name == "" {
		name = config.DefaultCAFile
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(dir, name)
	}
	pem, err := readOptional(name)
	if err != nil {
		return Certs{}, fmt.Errorf("nats.server.certificate.cafile: %w", err)
	}
	if pem == nil {
		return Certs{}, nil
	}
	return Certs{CAFile: name, CAPEM: pem}, nil
}

// ClientURL is the URL subscribers use (tls://localhost:PORT); with an external server, its first URL.
func (b *Broker) ClientURL() string { return b.url }

// CACertPEM is the CA that signed the client port's certificate (nil when unknown).
func (b *Broker) CACertPEM() []byte { return b.certs.CAPEM }

// CAFile is the path of the CA file ("" when unknown).
func (b *Broker) CAFile() string { return b.certs.CAFile }

// Server is the embedded server (nil with an external server).
func (b *Broker) Server() *server.Server { return b.srv }

// Shutdown closes SCIM Stream's connections and stops the embedded server.
func (b *Broker) Shutdown() {
	b.mu.Lock()
	conns := make([]*nats.Conn, 0, len(b.pubs)+1)
	for _, p := range b.pubs {
		conns = append(conns, p.nc)
	}
	if b.state != nil {
		conns = append(conns, b.state.nc)
	}
	b.pubs, b.state = map[accountKey]*publisher{}, nil
	sys := b.sys
	b.sys = nil
	b.mu.Unlock()
	if sys != nil {
		sys.Close()
	}
	// Drain: publishes in flight get their acks before the connections close.
	deadline := time.Now().Add(5 * time.Second)
	for _, nc := range conns {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
	}
	for _, nc := range conns {
		for !nc.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		nc.Close()
	}
	if b.front != nil {
		b.front.Shutdown()
		b.front.WaitForShutdown()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}
