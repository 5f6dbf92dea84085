package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	register("creds", "issue NATS credentials for a subscriber or gateway (.creds or gateway config block)", runCreds)
}

// tenantAccount returns the account of (tenant, typ) or an error naming the bootstrap that creates it.
func tenantAccount(cfg *config.Config, tenant string, typ wire.Type) (*config.AccountKeys, error) {
	return natsauth.TenantAccount(cfg, tenant, typ)
}

// clientURLs are the URLs a gateway uses: the external server's, or this host (or nats.server.hosts[0]).
func clientURLs(cfg *config.Config, tenant string) []string {
	if cfg.Nats.Server.UseExternalServer {
		if p := cfg.Nats.Publisher[tenant]; p != nil && len(p.URLs) > 0 {
			return p.URLs
		}
	}
	host := "localhost"
	if len(cfg.Nats.Server.Hosts) > 0 {
		host = cfg.Nats.Server.Hosts[0]
	} else if h, err := os.Hostname(); err == nil && h != "" {
		host = h
	}
	return []string{fmt.Sprintf("nats://%s:%d", host, cfg.Nats.Server.Port)}
}

func runCreds(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("creds", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	tenant := fs.String("tenant", "", "tenant name (mandatory)")
	typFlag := fs.String("type", "", "entra, hr or gw (mandatory)")
	roleFlag := fs.String("role", "", "for -type gw: gw_sub (responder, default) or gw_pub (requester); ops: read-only operator (entra, hr)")
	subject := fs.String("subject", "", "subject, e.g. ENTRA.APP1, HR.SF or GW.APPX (default <TYPE>.>)")
	durable := fs.String("durable", "", "durable consumer the user is bound to ('*' = any); default from -plugin/-entity")
	plugin := fs.String("plugin", "", "Node SCIM Gateway plugin name, e.g. plugin-loki (gives the durable name)")
	entity := fs.String("entity", "undefined", "gateway entity (baseEntity) key")
	expires := fs.Duration("expires", 8760*time.Hour, "lifetime of the credentials (0 = never)")
	format := fs.String("format", "creds", "creds, gateway-json or gateway-yaml")
	outPath := fs.String("out", "", "write the credentials to this file, mode 0600 (default: stdout)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "scim-stream creds:", err)
		return 1
	}
	if *tenant == "" || *typFlag == "" {
		fmt.Fprintln(stderr, "scim-stream creds: -tenant and -type are mandatory")
		fs.Usage()
		return 2
	}
	typ, err := wire.ParseType(*typFlag)
	if err != nil {
		return fail(err)
	}
	if natsauth.Role(strings.ToLower(*roleFlag)) == natsauth.Ops {
		return opsCreds(*cfgPath, *tenant, typ, *format, *expires, stdout, stderr)
	}
	role := natsauth.SubscriberRole(typ)
	if *roleFlag != "" {
		if role, err = natsauth.ParseRole(*roleFlag); err != nil {
			return fail(err)
		}
		if natsauth.AccountTypes(role)[0] != typ || role == natsauth.Pub {
			return fail(fmt.Errorf("role %s is not a %s subscriber or gateway role", role, typ))
		}
	}
	if *subject == "" {
		*subject = wire.Subject(typ, ">")
	}
	if !strings.HasPrefix(*subject, string(typ)+".") {
		return fail(fmt.Errorf("subject %q: a %s subject starts with %s. (e.g. %s.APP1)", *subject, typ, typ, typ))
	}
	var name string
	switch typ {
	case wire.GW:
		if *subject != "GW.>" {
			name = *subject
		}
	default:
		switch {
		case *durable == "*":
		case *durable != "":
			name = *durable
		case *plugin != "":
			name = wire.DurableName(*plugin, *entity)
		default:
			return fail(fmt.Errorf("give -plugin (the gateway's plugin, e.g. plugin-loki: the durable is then durable_<plugin>_<entity>) or -durable NAME ('*' for any durable)"))
		}
	}
	switch *format {
	case "creds", "gateway-json", "gateway-yaml":
	default:
		return fail(fmt.Errorf("-format %q: use creds, gateway-json or gateway-yaml", *format))
	}
	cfg, err := config.Check(*cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s:\n%s", *cfgPath, maskedErr(err)))
	}
	// ENTRA/HR: the channel's own account (each channel is a NATS account, so that no subscriber can reach
	// another channel's messages); GW: the tenant's GW account, the subject bound by permissions.
	acc, err := natsauth.SubscriberAccount(cfg, *tenant, typ, *subject)
	if err != nil {
		return fail(err)
	}
	u, err := natsauth.Issue(acc.Keys, role, natsauth.IssueOptions{Name: name, Expires: *expires})
	if err != nil {
		return fail(err)
	}
	// The output holds the user's secret seed: written whole to -out (0600) or stdout (see writeSecret).
	var buf bytes.Buffer
	switch *format {
	case "creds":
		fmt.Fprint(&buf, u.Creds())
	default:
		entries := &gateway.Subscribers{Enabled: true, Entity: map[string]gateway.Entity{*entity: {NATS: gateway.NATS{
			Tenant: *tenant, Subject: *subject, JWT: u.JWT, Secret: u.Seed}}}}
		ca := cfg.Nats.Server.Certificate.CAFile
		if ca == "" {
			ca = config.DefaultCAFile
		}
		block := gateway.Stream{BaseURLs: clientURLs(cfg, *tenant), Certificate: gateway.StreamCertificate{CA: ca}}
		if role == natsauth.GWPub {
			block.Publisher = entries
		} else {
			block.Subscriber = entries
		}
		if err := gateway.EncodeStream(&buf, block, strings.TrimPrefix(*format, "gateway-")); err != nil {
			return fail(err)
		}
	}
	if err := writeSecret(*outPath, buf.Bytes(), stdout, stderr); err != nil {
		return fail(err)
	}
	bound := "any durable"
	if name != "" {
		bound = name
	}
	if typ == wire.GW {
		bound = *subject
	}
	fmt.Fprintf(stderr, "issued %s user %s of account %s (bound to %s", role, u.PublicKey, acc.Name(), bound)
	if *expires > 0 {
		fmt.Fprintf(stderr, ", expires %s", time.Now().Add(*expires).UTC().Format(time.DateOnly))
	}
	fmt.Fprintf(stderr, ")\nrevoke with: scim-stream revoke -tenant %s -user %s\n", *tenant, u.PublicKey)
	if typ != wire.GW && *format != "creds" {
		fmt.Fprintln(stderr, "the Node SCIM Gateway needs scimgateway.scim.usePutSoftSync: true for ENTRA/HR subjects")
	}
	return 0
}
