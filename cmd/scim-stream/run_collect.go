package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/health"
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

	reg.MustRegister(b.JetStreamCollector())
	checks := &health.Registry{}
	checks.Add(b.Health)
	checks.Add(r.Health)
	var httpDone <-chan struct{}
	if env.HTTPAddr != "" {
		addr, done, err := health.Serve(ctx, env.HTTPAddr, health.Handler(checks, reg, buildVersion()), env.Log)
		if err != nil {
			b.Shutdown()
			return fmt.Errorf("-http: %w", err)
		}
		httpDone = done
		env.Log.Info("metrics and health endpoint listening", "addr", addr, "paths", "/healthz /readyz /metrics")
	}

	env.Go(func() {
		<-ctx.Done()
		r.Wait()
		if httpDone != nil {
			<-httpDone
		}
		mailMu.Lock()
		mailer.Close()
		mailMu.Unlock()
		b.Shutdown()
	})
	return nil
}
