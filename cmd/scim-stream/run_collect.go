package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/notify"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	runHooks = append(runHooks, startCollecting)
}

// startCollecting starts the embedded broker, then every tenant's collector, and keeps both in step with the
// configuration file.
func startCollecting(ctx context.Context, env *runEnv) error {
	cfg := env.Config()
	dir := config.Dir(env.ConfigPath)
	b, err := broker.Start(ctx, cfg, broker.Options{
		StoreDir: filepath.Join(dir, "jetstream"),
		CertsDir: config.CertsDir(env.ConfigPath),
		Logger:   env.Log.With("part", "nats"),
	})
	if err != nil {
		return err
	}
	env.Log.Info("NATS broker ready", "url", b.ClientURL(), "ca", b.CAFile())

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := collector.NewMetrics(reg)

	var mailMu sync.Mutex
	mailer := notify.New(cfg.Email, env.Log)
	r := &collector.Runner{
		Broker:  b,
		Sources: sourcesFor(env),
		OnInitialLoad: func(tenant string, typ wire.Type) error {
			return config.ClearInitialLoad(env.ConfigPath, typ.Key(), tenant)
		},
		Log:         env.Log,
		Metrics:     metrics,
		OnCollected: env.OnCollected,
		Now:         env.Now,
		OnError: func(tenant string, typ wire.Type, err error) {
			mailMu.Lock()
			m := mailer
			mailMu.Unlock()
			m.Error(fmt.Sprintf("%s tenant %q", typ.Key(), tenant), err)
		},
	}
	if c := cfg.Nats.Server.Cluster; c != nil && c.ImportState != "" {
		r.ImportState = c.ImportState
		if !filepath.IsAbs(r.ImportState) {
			r.ImportState = filepath.Join(dir, r.ImportState)
		}
	}
	env.Broker, env.Runner = b, r
	r.Start(ctx)
	if err := r.Apply(cfg); err != nil {
		env.Log.Error("some tenants did not start; fix the configuration (scim-stream check) and save it", "error", err)
	}
	env.OnConfig(func(c *config.Config) {
		if err := b.Reload(ctx, c); err != nil {
			env.Log.Error("broker configuration not applied", "error", err)
		}
		_ = r.Apply(c) // errors are logged by the runner, per tenant
		mailMu.Lock()
		old := mailer
		mailer = notify.New(c.Email, env.Log)
		mailMu.Unlock()
		old.Close()
	})

	var srv *http.Server
	if env.HTTPAddr != "" {
		ln, err := net.Listen("tcp", env.HTTPAddr)
		if err != nil {
			b.Shutdown()
			return fmt.Errorf("-http %s: %w", env.HTTPAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { healthz(w, b) })
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		env.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				env.Log.Error("metrics listener stopped", "error", err)
			}
		})
		env.Log.Info("metrics and health endpoint listening", "addr", ln.Addr().String())
	}

	env.Go(func() {
		<-ctx.Done()
		r.Wait()
		if srv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
		}
		mailMu.Lock()
		mailer.Close()
		mailMu.Unlock()
		b.Shutdown()
	})
	return nil
}

// healthz answers 200 while the broker serves clients, 503 otherwise.
func healthz(w http.ResponseWriter, b *broker.Broker) {
	w.Header().Set("Content-Type", "application/json")
	status := map[string]any{"status": "ok", "nats": b.ClientURL()}
	if s := b.Server(); s != nil && !s.ReadyForConnections(time.Second) {
		status["status"] = "nats server not ready"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(status)
}
