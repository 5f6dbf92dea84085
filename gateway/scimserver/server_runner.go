package scimserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// Run is the gateway's SCIM side, a gateway.Runner: the HTTP listener on scimgateway.port (serving the endpoint,
// or relaying as a publisher when stream.publisher is enabled) and a responder for every subscriber entity with a
// GW.* subject. Nothing to do when neither is configured.
func Run(ctx context.Context, g *gateway.Gateway) error {
	cfg := g.Config
	sc, err := LoadServerConfig(cfg)
	if err != nil {
		return err
	}
	log := g.Log
	opts := sc.Options(serverTenant(cfg), log)
	// Every baseEntity the configuration names is served by the one endpoint under its /<baseEntity> prefix.
	opts.Entities = map[string]endpoint.Endpoint{}
	for _, block := range []*gateway.Subscribers{cfg.Scimgateway.Stream.Subscriber, cfg.Scimgateway.Stream.Publisher} {
		if block == nil {
			continue
		}
		for name := range block.Entity {
			if name != undefinedEntity {
				opts.Entities[name] = g.Endpoint
			}
		}
	}
	server := NewServer(g.Endpoint, opts)

	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	var responders []*Responder
	if sub := cfg.Scimgateway.Stream.Subscriber; sub != nil && sub.Enabled {
		for _, name := range sortedEntities(sub.Entity) {
			e := sub.Entity[name]
			if typ, _ := wire.TypeOf(e.NATS.Subject); typ != wire.GW {
				continue
			}
			nc, err := connectEntity(cfg, "responder", name, e, log)
			if err != nil {
				return fmt.Errorf("scimgateway.stream.subscriber.entity.%s: %w", name, err)
			}
			conns = append(conns, nc)
			g.TrackConn(name+" responder", nc)
			r, err := NewResponder(nc, e.NATS.Subject, server, ResponderOptions{Log: log, BaseEntity: name})
			if err != nil {
				return fmt.Errorf("scimgateway.stream.subscriber.entity.%s: %w", name, err)
			}
			responders = append(responders, r)
			log.Info("gateway: answering GW requests", "entity", name, "subject", e.NATS.Subject)
		}
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, r := range responders {
			r.Stop(stopCtx)
		}
	}()

	var handler http.Handler = server
	if pub := cfg.Scimgateway.Stream.Publisher; pub != nil && pub.Enabled {
		timeout, err := PublisherTimeout(cfg)
		if err != nil {
			return err
		}
		popts := PublisherOptions{Server: opts, Entities: map[string]PublisherEntity{}, Timeout: timeout}
		popts.Server.Entities = nil
		for _, name := range sortedEntities(pub.Entity) {
			e := pub.Entity[name]
			if typ, _ := wire.TypeOf(e.NATS.Subject); typ != wire.GW || strings.ContainsAny(e.NATS.Subject, "*>") {
				return fmt.Errorf("gateway config %s: scimgateway.stream.publisher.entity.%s.nats.subject: %q: a publisher's subject is GW.<channel>, e.g. GW.APPX", cfg.Path, name, e.NATS.Subject)
			}
			nc, err := connectEntity(cfg, "publisher", name, e, log)
			if err != nil {
				return fmt.Errorf("scimgateway.stream.publisher.entity.%s: %w", name, err)
			}
			conns = append(conns, nc)
			g.TrackConn(name+" publisher", nc)
			popts.Entities[name] = PublisherEntity{Conn: nc, Subject: e.NATS.Subject}
		}
		handler = NewPublisher(popts)
	}

	port := cfg.Scimgateway.Port
	if port <= 0 {
		if len(responders) > 0 {
			<-ctx.Done()
		}
		return nil
	}
	tlsCfg, err := sc.TLSConfig(cfg.Dir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", sc.ListenAddr(port))
	if err != nil {
		return fmt.Errorf("gateway config %s: scimgateway.port %d: %w", cfg.Path, port, err)
	}
	srv := &http.Server{Handler: g.Metrics.Instrument(handler), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	mode := "server"
	if _, ok := handler.(*Publisher); ok {
		mode = "publisher"
	}
	log.Info("gateway: SCIM HTTP listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil, "mode", mode)
	select {
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutCtx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("scimgateway.port %d: %w", port, err)
	}
}

// serverTenant names the deployment for AppRoles ids: the first entity's tenant, else the gateway name.
func serverTenant(cfg *gateway.Config) string {
	for _, block := range []*gateway.Subscribers{cfg.Scimgateway.Stream.Subscriber, cfg.Scimgateway.Stream.Publisher} {
		if block == nil {
			continue
		}
		for _, name := range sortedEntities(block.Entity) {
			if t := block.Entity[name].NATS.Tenant; t != "" {
				return t
			}
		}
	}
	return cfg.Name
}

func sortedEntities(m map[string]gateway.Entity) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// connectEntity opens an entity's NATS connection (user JWT + seed, the broker's CA), reconnecting forever.
func connectEntity(cfg *gateway.Config, role, entity string, e gateway.Entity, log *slog.Logger) (*nats.Conn, error) {
	if len(cfg.Scimgateway.Stream.BaseURLs) == 0 {
		return nil, fmt.Errorf("scimgateway.stream.baseUrls is mandatory for a %s, e.g. [\"tls://scim-stream.example.com:9012\"]", role)
	}
	opts := []nats.Option{
		nats.Name(fmt.Sprintf("scim-stream gateway %s/%s %s", cfg.Name, entity, role)),
		nats.UserJWTAndSeed(e.NATS.JWT, e.NATS.Secret.Reveal()),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(2 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && !gateway.LogIfRefused(log, err, e.NATS.JWT, "entity", entity, "role", role) {
				log.Warn("gateway: disconnected from the broker; reconnecting", "entity", entity, "role", role, "err", err)
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			gateway.LogIfRefused(log, err, e.NATS.JWT, "entity", entity, "role", role)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("gateway: reconnected to the broker", "entity", entity, "role", role, "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if !gateway.LogIfRefused(log, err, e.NATS.JWT, "entity", entity, "role", role) {
				log.Warn("gateway: broker reported an error", "entity", entity, "role", role, "err", err)
			}
		}),
	}
	if ca := cfg.CAFile(); ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	if role == "publisher" {
		// Replies on a prefix only this channel's publisher credentials may read (not the shared _INBOX.>).
		opts = append(opts, nats.CustomInboxPrefix(natsauth.GWInbox(e.NATS.Subject)))
	}
	nc, err := nats.Connect(strings.Join(cfg.Scimgateway.Stream.BaseURLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %v: %w", cfg.Scimgateway.Stream.BaseURLs, err)
	}
	return nc, nil
}
