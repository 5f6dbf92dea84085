package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	register("revoke", "revoke a NATS user (its connections drop at once)", runRevoke)
}

// pushAccounts sends changed account JWTs to the running server so that they apply at once; the configuration
// file already holds them, so a server that is not running gets them when it starts (or on its hot reload).
func pushAccounts(cfgPath string, cfg *config.Config, tenant string, jwts []string, stderr io.Writer) {
	urls := []string{fmt.Sprintf("tls://localhost:%d", cfg.Nats.Server.Port)}
	if cfg.Nats.Server.UseExternalServer {
		urls = clientURLs(cfg, tenant)
	}
	ca := cfg.Nats.Server.Certificate.CAFile
	if ca == "" {
		ca = config.DefaultCAFile
	}
	if !filepath.IsAbs(ca) {
		ca = filepath.Join(config.CertsDir(cfgPath), ca)
	}
	pem, _ := os.ReadFile(ca)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := broker.PushAccounts(ctx, urls, pem, cfg.Nats.Server.Auth.Operator, jwts...); err != nil {
		fmt.Fprintf(stderr, "note: the running NATS server was not updated (%v);\nthe change is in %s and applies when scim-stream starts or reloads it.\n", err, cfgPath)
		return
	}
	fmt.Fprintln(stderr, "the running NATS server applied the change")
}

func runRevoke(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("revoke", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	tenant := fs.String("tenant", "", "tenant name (mandatory)")
	user := fs.String("user", "", "user public key (U…), as printed by creds (mandatory)")
	typFlag := fs.String("type", "", "only this account type (entra, hr or gw); default every account of the tenant")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *tenant == "" || *user == "" {
		fmt.Fprintln(stderr, "scim-stream revoke: -tenant and -user are mandatory")
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "scim-stream revoke:", err)
		return 1
	}
	types := wire.Types
	if *typFlag != "" {
		t, err := wire.ParseType(*typFlag)
		if err != nil {
			return fail(err)
		}
		types = []wire.Type{t}
	}
	cfg, err := config.Check(*cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s:\n%s", *cfgPath, maskedErr(err)))
	}
	var changes []config.Change
	var jwts []string
	for _, typ := range types {
		acc, err := tenantAccount(cfg, *tenant, typ)
		if err != nil {
			if *typFlag != "" {
				return fail(err)
			}
			continue
		}
		out, err := natsauth.Revoke(cfg.Nats.Server.Auth.Operator, acc, *user)
		if err != nil {
			return fail(err)
		}
		changes = append(changes, config.Change{Path: []string{"nats", "server", "auth", "account", *tenant, typ.Key(), "jwt"}, Value: out.JWT})
		jwts = append(jwts, out.JWT)
		// Its channel accounts copy its revocations.
		chJWTs, err := channelJWTs(cfg, out, *tenant, typ)
		if err != nil {
			return fail(err)
		}
		jwts = append(jwts, chJWTs...)
	}
	if len(changes) == 0 {
		return fail(fmt.Errorf("tenant %q has no accounts: run scim-stream bootstrap", *tenant))
	}
	if err := config.Update(*cfgPath, changes...); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "revoked user %s in %d account(s) of tenant %s\n", *user, len(jwts), *tenant)
	pushAccounts(*cfgPath, cfg, *tenant, jwts, stderr)
	return 0
}

// channelJWTs are the JWTs of the channel accounts of (tenant, typ) derived from parent, the changed (tenant, typ)
// account, for pushing to a running server along with it.
func channelJWTs(cfg *config.Config, parent *config.AccountKeys, tenant string, typ wire.Type) ([]string, error) {
	var out []string
	for _, ch := range natsauth.Channels(cfg, tenant, typ) {
		a, err := natsauth.ChannelAccount(cfg.Nats.Server.Auth.Operator, parent, tenant, typ, ch)
		if err != nil {
			return nil, err
		}
		out = append(out, a.JWT)
	}
	return out, nil
}
