package main

import (
	"fmt"
	"io"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
)

func init() {
	register("rotate", "replace a role's signing key: every user of that role is revoked", runRotate)
}

func runRotate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("rotate", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	tenant := fs.String("tenant", "", "tenant name (mandatory)")
	roleFlag := fs.String("role", "", "sub_entra, sub_hr, gw_pub, gw_sub or pub (mandatory)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *tenant == "" || *roleFlag == "" {
		fmt.Fprintln(stderr, "scim-stream rotate: -tenant and -role are mandatory")
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "scim-stream rotate:", err)
		return 1
	}
	role, err := natsauth.ParseRole(*roleFlag)
	if err != nil {
		return fail(err)
	}
	cfg, err := config.Check(*cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s:\n%s", *cfgPath, maskedErr(err)))
	}
	op := cfg.Nats.Server.Auth.Operator
	var changes []config.Change
	var jwts []string
	var home *config.AccountKeys // the account the configured publisher identity lives in
	for _, typ := range natsauth.AccountTypes(role) {
		acc, err := tenantAccount(cfg, *tenant, typ)
		if err != nil {
			continue
		}
		out, err := natsauth.Rotate(op, acc, role)
		if err != nil {
			return fail(err)
		}
		base := []string{"nats", "server", "auth", "account", *tenant, typ.Key()}
		changes = append(changes,
			config.Change{Path: append(append([]string{}, base...), "jwt"), Value: out.JWT},
			config.Change{Path: append(append([]string{}, base...), "signing", role.ConfigKey()), Value: out.Signing[role.ConfigKey()].Reveal()})
		jwts = append(jwts, out.JWT)
		// Its channel accounts' signing keys derive from this one: they rotate with it.
		chJWTs, err := channelJWTs(cfg, out, *tenant, typ)
		if err != nil {
			return fail(err)
		}
		jwts = append(jwts, chJWTs...)
		if home == nil {
			home = out
		}
	}
	if len(changes) == 0 {
		return fail(fmt.Errorf("tenant %q has no account with role %s: run scim-stream bootstrap", *tenant, role))
	}
	// The documented publisher JWT was signed by the old pub key: re-issue it for the same identity.
	if p := cfg.Nats.Publisher[*tenant]; role == natsauth.Pub && p != nil && p.Secret != "" {
		u, err := natsauth.Issue(home, natsauth.Pub, natsauth.IssueOptions{Seed: p.Secret})
		if err != nil {
			return fail(err)
		}
		changes = append(changes, config.Change{Path: []string{"nats", "publisher", *tenant, "jwt"}, Value: u.JWT})
	}
	if err := config.Update(*cfgPath, changes...); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "rotated the %s signing key of tenant %s (%d account(s)); every user issued with the old key is revoked\n", role, *tenant, len(jwts))
	if role != natsauth.Pub {
		fmt.Fprintf(stdout, "issue new credentials with: scim-stream creds -tenant %s ...\n", *tenant)
	}
	pushAccounts(*cfgPath, cfg, *tenant, jwts, stderr)
	return 0
}
