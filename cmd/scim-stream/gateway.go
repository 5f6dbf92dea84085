package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/ldap"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/gateway/upstream"
	"github.com/scim-stream/scim-stream/health"
)

// gatewayEndpoints are the endpoint types a gateway configuration may select (endpoint.type); the store is the
// default.
var gatewayEndpoints = endpoint.Factories{store.Type: store.OpenConfig, ldap.Type: ldap.OpenConfig, upstream.Type: upstream.OpenConfig}

// gatewayOptions are the parts of the bundled gateway: its endpoint types and, next to the stream subscribers,
// the SCIM side (HTTP server or publisher, GW responders).
func gatewayOptions(log *slog.Logger) gateway.Options {
	return gateway.Options{Endpoints: gatewayEndpoints, Runners: map[string]gateway.Runner{"scim-server": scimserver.Run}, Log: log}
}

// defaultGatewayConfig is where `scim-stream gateway` looks without -config.
var defaultGatewayConfig = filepath.Join("config", "gateway.yaml")

// defaultGatewayHTTP is the gateway's /healthz, /readyz and /metrics listener: loopback, because the metrics name
// tenants and entities; containers and Kubernetes probes set -http :9014.
const defaultGatewayHTTP = "127.0.0.1:9014"

func init() {
	register("gateway", "run the bundled SCIM gateway: subscribe to channels and provision an endpoint", gatewayMain)
}

func gatewayMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gateway", stderr)
	cfgPath := fs.String("config", defaultGatewayConfig, "gateway configuration: YAML, or a Node SCIM Gateway plugin JSON file")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	httpAddr := fs.String("http", defaultGatewayHTTP, "listen address of /healthz, /readyz and /metrics (\"\" = none)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return gatewayOpts(ctx, gatewayRun{ConfigPath: *cfgPath, Level: *level, Format: *format, HTTPAddr: *httpAddr,
		Stdout: stdout, Stderr: stderr, Hangup: hangups()})
}

// gatewayWith runs the gateway of cfgPath until ctx is cancelled; tests call it with their own context.
func gatewayWith(ctx context.Context, cfgPath, level string, stdout, stderr io.Writer) int {
	return gatewayOpts(ctx, gatewayRun{ConfigPath: cfgPath, Level: level, Stdout: stdout, Stderr: stderr})
}

// gatewayRun are the gateway command's settings.
type gatewayRun struct {
	ConfigPath, Level, Format string
	// HTTPAddr is the health and metrics listener ("" = none).
	HTTPAddr       string
	Stdout, Stderr io.Writer
	// Hangup delivers SIGHUP: reload the configuration (nil: no signal handling).
	Hangup <-chan os.Signal
	// listening, when set, is told the health listener's address (tests).
	listening func(addr string)
}

func gatewayOpts(ctx context.Context, o gatewayRun) int {
	if o.Format != "" && o.Format != "text" && o.Format != "json" {
		fmt.Fprintf(o.Stderr, "scim-stream gateway: -log-format %q: use text or json\n", o.Format)
		return 2
	}
	cfg, err := gateway.LoadConfig(o.ConfigPath)
	if err != nil {
		fmt.Fprintln(o.Stderr, "scim-stream gateway:", config.MaskSecrets(err.Error()))
		return 1
	}
	log := config.NewFormatLogger(o.Stdout, o.Level, o.Format)
	log.Info("gateway starting", "version", buildVersion(), "config", o.ConfigPath, "name", cfg.Name, "endpoint", cfg.EndpointType())

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := gateway.NewMetrics(reg)
	// The running gateway changes at each SIGHUP reload; /readyz asks the current one.
	var current atomic.Pointer[gateway.Gateway]
	checks := &health.Registry{}
	checks.Add(func() []health.Part {
		if g := current.Load(); g != nil {
			return g.Health()
		}
		return []health.Part{{Kind: "gateway", Name: cfg.Name, State: "starting"}}
	})
	var httpDone <-chan struct{}
	if o.HTTPAddr != "" {
		hctx, cancel := context.WithCancel(context.Background())
		defer func() {
			cancel()
			<-httpDone
		}()
		addr, done, err := health.Serve(hctx, o.HTTPAddr, health.Handler(checks, reg, buildVersion()), log)
		if err != nil {
			fmt.Fprintf(o.Stderr, "scim-stream gateway: -http: %v (choose a free address, or -http \"\" for none)\n", err)
			return 1
		}
		httpDone = done
		log.Info("gateway: metrics and health endpoint listening", "addr", addr, "paths", "/healthz /readyz /metrics")
		if o.listening != nil {
			o.listening(addr)
		}
	}

	for {
		runCtx, cancel := context.WithCancel(ctx)
		reload := make(chan *gateway.Config, 1)
		if o.Hangup != nil {
			go watchHangup(runCtx, o, log, reload, cancel)
		}
		err := runGateway(runCtx, cfg, log, metrics, &current)
		cancel()
		select {
		case next := <-reload:
			cfg = next
			log.Info("gateway: restarting with the reloaded configuration", "config", o.ConfigPath)
			continue
		default:
		}
		if err != nil && ctx.Err() == nil {
			log.Error("gateway stopped", "error", err)
			// The log may go to a collector nobody reads at start-up: the cause is on stderr too.
			fmt.Fprintln(o.Stderr, "scim-stream gateway:", config.MaskSecrets(err.Error()))
			return 1
		}
		log.Info("gateway stopped")
		return 0
	}
}

// runGateway opens the gateway of cfg, runs it until ctx ends and closes it.
func runGateway(ctx context.Context, cfg *gateway.Config, log *slog.Logger, m *gateway.Metrics, current *atomic.Pointer[gateway.Gateway]) error {
	g, err := gateway.Open(ctx, cfg, gatewayOptions(log))
	if err != nil {
		return err
	}
	defer g.Close()
	g.Metrics = m
	current.Store(g)
	return g.Run(ctx)
}

// watchHangup reloads the configuration at SIGHUP: a valid one is handed over in reload and the running gateway
// stopped (its messages drain: unacknowledged ones return to the durable); an invalid one is logged and the
// gateway keeps running on the previous one.
func watchHangup(ctx context.Context, o gatewayRun, log *slog.Logger, reload chan<- *gateway.Config, stop context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.Hangup:
			cfg, err := gateway.LoadConfig(o.ConfigPath)
			if err != nil {
				log.Error("SIGHUP: configuration not reloaded, still running on the previous one", "config", o.ConfigPath,
					"error", config.MaskSecrets(err.Error()))
				continue
			}
			log.Info("SIGHUP: reloading the configuration", "config", o.ConfigPath)
			reload <- cfg
			stop()
			return
		}
	}
}
