package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	// Endpoint types register themselves (endpoint.type); the store is the default.
	_ "github.com/scim-stream/scim-stream/gateway/ldap"
	_ "github.com/scim-stream/scim-stream/gateway/store"
	_ "github.com/scim-stream/scim-stream/gateway/upstream"
)

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
	if err := gateway.Run(ctx, cfg, log); err != nil {
		log.Error("gateway stopped", "error", err)
		return 1
	}
	log.Info("gateway stopped")
	return 0
}
