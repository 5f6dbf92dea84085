package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	register("state-export", "write a stopped single node's collector state to a file, for the cluster that replaces it", runStateExport)
}

// runStateExport opens the single node's store (the node must be stopped) on a private port and writes every
// tenant's collector state bucket (collector.ExportState).
func runStateExport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("state-export", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file of the single node")
	out := fs.String("out", "", "output file (mandatory; it holds user data: keep it like a backup)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(stderr, "scim-stream state-export: -out is mandatory")
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "scim-stream state-export:", config.MaskSecrets(err.Error()))
		return 1
	}
	cfg, err := config.Check(*cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s:\n%s", *cfgPath, maskedErr(err)))
	}
	// The store is a single node's, whatever the file says now.
	cfg.Nats.Server.Cluster, cfg.Nats.Server.UseExternalServer = nil, false
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := config.Dir(*cfgPath)
	b, err := broker.Start(ctx, cfg, broker.Options{StoreDir: filepath.Join(dir, "jetstream"), CertsDir: config.CertsDir(*cfgPath),
		Port: -1, Host: "127.0.0.1"})
	if err != nil {
		return fail(fmt.Errorf("opening the store (is the node still running? stop it first): %w", err))
	}
	defer b.Shutdown()
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fail(err)
	}
	total := 0
	for _, a := range broker.Accounts(cfg) {
		if a.Type != wire.Entra && a.Type != wire.HR {
			continue
		}
		kv, err := b.StateKV(ctx, a.Tenant, a.Type)
		if err != nil {
			f.Close()
			return fail(err)
		}
		n, err := collector.ExportState(ctx, kv, f)
		if err != nil {
			f.Close()
			return fail(err)
		}
		fmt.Fprintf(stdout, "%s: %d keys\n", kv.Bucket(), n)
		total += n
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "wrote %d keys to %s; give it to every cluster node as nats.server.cluster.import_state\n", total, *out)
	return 0
}
