package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"strings"
	"time"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	register("release", "let the leavers the mass-change guard holds for a tenant through at its next collection", runRelease)
}

func runRelease(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("release", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	tenant := fs.String("tenant", "", "tenant name (mandatory)")
	typ := fs.String("type", "", "collector type: hr or entra (mandatory)")
	status := fs.Bool("status", false, "only show what is held, release nothing")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "scim-stream release: %s\n", config.MaskSecrets(err.Error()))
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scim-stream release: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var ct wire.Type
	switch strings.ToLower(*typ) {
	case "hr":
		ct = wire.HR
	case "entra":
		ct = wire.Entra
	default:
		fmt.Fprintln(stderr, "scim-stream release: -type hr or -type entra is mandatory")
		return 2
	}
	if *tenant == "" {
		fmt.Fprintln(stderr, "scim-stream release: -tenant <name> is mandatory")
		return 2
	}
	cfg, err := config.Check(*cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s:\n%s", *cfgPath, maskedErr(err)))
	}
	tenants := cfg.HR
	if ct == wire.Entra {
		tenants = cfg.Entra
	}
	if _, ok := tenants[*tenant]; !ok {
		return fail(fmt.Errorf("%s has no %s tenant %q", *cfgPath, ct.Key(), *tenant))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, nc, err := broker.OpenStateKV(ctx, cfg, config.CertsDir(*cfgPath), *tenant, ct)
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	st := collector.NewState(kv)
	if *status {
		h, rel, err := st.ReadHold(ctx)
		if err != nil {
			return fail(err)
		}
		switch {
		case h == nil:
			fmt.Fprintf(stdout, "%s tenant %q: nothing is held\n", ct.Key(), *tenant)
		case rel != nil:
			fmt.Fprintf(stdout, "%s tenant %q: %d leavers held since %s, released at %s (published at the next collection)\n",
				ct.Key(), *tenant, h.Leavers, h.Since.Format(time.RFC3339), rel.At.Format(time.RFC3339))
		default:
			fmt.Fprintf(stdout, "%s tenant %q: %d of %d known users held as leavers since %s (guard: held at %s)\n",
				ct.Key(), *tenant, h.Leavers, h.Known, h.Since.Format(time.RFC3339), h.Bounds)
		}
		return 0
	}
	by := ""
	if u, err := user.Current(); err == nil {
		by = u.Username
	}
	h, err := st.ReleaseHold(ctx, by, time.Now())
	if errors.Is(err, collector.ErrNoHold) {
		return fail(fmt.Errorf("%s tenant %q: nothing is held, nothing to release", ct.Key(), *tenant))
	}
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "%s tenant %q: released %d leavers (held since %s); the next collection publishes them, "+
		"unless the source then reports more leavers than that\n", ct.Key(), *tenant, h.Leavers, h.Since.Format(time.RFC3339))
	return 0
}
