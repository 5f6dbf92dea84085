package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/ldap"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/gateway/upstream"
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

func init() {
	register("gateway", "run the bundled SCIM gateway: subscribe to channels and provision an endpoint", gatewayMain)
}

func gatewayMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gateway", stderr)
	cfgPath := fs.String("config", defaultGatewayConfig, "gateway configuration: YAML, or a Node SCIM Gateway plugin JSON file")
	level := fs.String("log-level", "info", "log level: debug, info, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return gatewayWith(ctx, *cfgPath, *level, stdout, stderr)
}

// gatewayWith runs the gateway of cfgPath until ctx is cancelled; tests call it with their own context.
func gatewayWith(ctx context.Context, cfgPath, level string, stdout, stderr io.Writer) int {
	cfg, err := gateway.LoadConfig(cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream gateway:", config.MaskSecrets(err.Error()))
		return 1
	}
	log := config.NewWriterLogger(stdout, level)
	log.Info("gateway starting", "version", buildVersion(), "config", cfgPath, "name", cfg.Name, "endpoint", cfg.EndpointType())
	if err := gateway.Run(ctx, cfg, gatewayOptions(log)); err != nil {
		log.Error("gateway stopped", "error", err)
		return 1
	}
	log.Info("gateway stopped")
	return 0
}
