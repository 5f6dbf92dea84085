package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	register("bootstrap", "create or complete config.yaml: NATS operator, tenant accounts, keys, certificates", runBootstrap)
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

func runBootstrap(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bootstrap", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file (created when missing)")
	entra := fs.String("entra", "", "entra collector tenant names, comma-separated (e.g. mycompany)")
	hr := fs.String("hr", "", "hr collector tenant names, comma-separated")
	hosts := fs.String("host", "", "extra host names or IPs subscribers use to reach this server (certificate SANs), comma-separated")
	nodes := fs.String("nodes", "", "cluster mode: every node's host name, comma-separated (routes, certificate names; see README, High availability)")
	routePort := fs.Int("route-port", config.DefaultClusterPort, "cluster mode: the route port of every node")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scim-stream bootstrap: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if _, err := config.EnsureFile(*cfgPath); err != nil {
		fmt.Fprintln(stderr, "scim-stream bootstrap:", err)
		return 1
	}
	cfg, err := config.Check(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "scim-stream bootstrap: %s must be valid before it can be completed:\n%s\n", *cfgPath, maskedErr(err))
		return 1
	}
	b, err := planBootstrap(cfg, splitList(*entra), splitList(*hr), append(splitList(*hosts), splitList(*nodes)...))
	if err == nil {
		err = b.planCluster(cfg, splitList(*nodes), *routePort)
	}
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream bootstrap:", err)
		return 1
	}
	if len(b.changes) > 0 {
		if err := config.Update(*cfgPath, b.changes...); err != nil {
			fmt.Fprintln(stderr, "scim-stream bootstrap:", err)
			return 1
		}
	}
	certs, err := broker.EnsureCerts(config.CertsDir(*cfgPath), cfg.Nats.Server.Certificate, broker.CertHosts(b.hosts))
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream bootstrap:", err)
		return 1
	}
	if _, err := config.Check(*cfgPath); err != nil {
		fmt.Fprintf(stderr, "scim-stream bootstrap: %s was written but does not load:\n%s\n", *cfgPath, maskedErr(err))
		return 1
	}
	b.report(stdout, *cfgPath, certs)
	b.reportCluster(stdout, *cfgPath)
	return 0
}

// bootstrapPlan is what bootstrap writes, and what it tells the operator.
type bootstrapPlan struct {
	changes  []config.Change
	hosts    []string
	created  []string // descriptions of generated material
	skeleton []string // tenants written with placeholders (kind.tenant)
	entra    []string
	hr       []string
	port     int
	nodes    []string
	err      error
}

func (p *bootstrapPlan) set(value any, path ...string) {
	p.changes = append(p.changes, config.Change{Path: path, Value: value})
}

// setAccount writes an account's JWT, seed and signing seeds under path.
func (p *bootstrapPlan) setAccount(a *config.AccountKeys, path ...string) {
	p.set(a.JWT, append(slices.Clone(path), "jwt")...)
	p.set(a.Secret.Reveal(), append(slices.Clone(path), "secret")...)
	keys := make([]string, 0, len(a.Signing))
	for k := range a.Signing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.set(a.Signing[k].Reveal(), append(slices.Clone(path), "signing", k)...)
	}
}

// planBootstrap computes the changes that complete cfg for the given tenants; it generates only what is missing.
func planBootstrap(cfg *config.Config, entra, hr, hosts []string) (*bootstrapPlan, error) {
	p := &bootstrapPlan{port: cfg.Nats.Server.Port}
	for _, t := range append(slices.Clone(entra), hr...) {
		if err := natsauth.CheckTenant(t); err != nil {
			return nil, err
		}
	}
	for _, h := range hosts {
		if err := config.CheckHost(h); err != nil {
			return nil, fmt.Errorf("-host: %w", err)
		}
	}
	auth := &cfg.Nats.Server.Auth
	op := auth.Operator
	if op.JWT == "" || op.Secret == "" {
		var err error
		if op, err = natsauth.NewOperator(); err != nil {
			return nil, err
		}
		base := []string{"nats", "server", "auth", "operator"}
		p.set(op.JWT, append(slices.Clone(base), "jwt")...)
		p.set(op.Secret.Reveal(), append(slices.Clone(base), "secret")...)
		p.set(op.SysAccountJWT, append(slices.Clone(base), "sys_account_jwt")...)
		p.set(op.SysAccountSecret.Reveal(), append(slices.Clone(base), "sys_account_secret")...)
		p.created = append(p.created, "NATS operator and system account")
		// Accounts of another operator would not load: regenerate them all.
		auth.State, auth.Account = nil, nil
		for _, pub := range cfg.Nats.Publisher {
			if pub != nil {
				pub.JWT, pub.Secret = "", ""
			}
		}
	}
	if auth.State == nil || auth.State.JWT == "" {
		st, err := natsauth.NewAccount(op, "", natsauth.State)
		if err != nil {
			return nil, err
		}
		p.setAccount(st, "nats", "server", "auth", "state")
		p.created = append(p.created, "internal state account")
	}
	p.entra = mergeNames(entra, cfg.Entra)
	p.hr = mergeNames(hr, cfg.HR)
	for _, t := range entra {
		if cfg.Entra[t] == nil {
			p.set(entraSkeleton(), "entra", t)
			p.skeleton = append(p.skeleton, "entra."+t)
		}
	}
	for _, t := range hr {
		if cfg.HR[t] == nil {
			p.set(hrSkeleton(), "hr", t)
			p.skeleton = append(p.skeleton, "hr."+t)
		}
	}
	tenants := mergeNames[bool](append(slices.Clone(p.entra), p.hr...), nil)
	for _, t := range tenants {
		var ta config.TenantAccounts
		if auth.Account[t] != nil {
			ta = *auth.Account[t]
		}
		want := []struct {
			typ wire.Type
			key string
			acc **config.AccountKeys
			on  bool
		}{
			{wire.Entra, "entra", &ta.Entra, slices.Contains(p.entra, t)},
			{wire.HR, "hr", &ta.HR, slices.Contains(p.hr, t)},
			{wire.GW, "gw", &ta.GW, true},
		}
		for _, w := range want {
			if *w.acc != nil && (*w.acc).JWT != "" {
				p.refreshTemplates(op, *w.acc, t, w.typ, w.key)
			}
			if !w.on || (*w.acc != nil && (*w.acc).JWT != "") {
				continue
			}
			a, err := natsauth.NewAccount(op, t, w.typ)
			if err != nil {
				return nil, err
			}
			*w.acc = a
			p.setAccount(a, "nats", "server", "auth", "account", t, w.key)
			p.created = append(p.created, fmt.Sprintf("account %s", natsauth.AccountName(t, w.typ)))
		}
		pub := cfg.Nats.Publisher[t]
		if pub == nil || pub.JWT == "" || pub.Secret == "" {
			home := ta.Entra
			if home == nil {
				home = ta.HR
			}
			u, err := natsauth.Issue(home, natsauth.Pub, natsauth.IssueOptions{})
			if err != nil {
				return nil, err
			}
			if pub == nil {
				p.set([]string{fmt.Sprintf("nats://127.0.0.1:%d", cfg.Nats.Server.Port)}, "nats", "publisher", t, "urls")
				p.set(config.DefaultMaxAgeDays, "nats", "publisher", t, "max_age")
			}
			p.set(u.JWT, "nats", "publisher", t, "jwt")
			p.set(u.Seed.Reveal(), "nats", "publisher", t, "secret")
			p.created = append(p.created, fmt.Sprintf("publisher identity of %s", t))
		}
	}
	p.hosts = slices.Clone(cfg.Nats.Server.Hosts)
	added := false
	for _, h := range hosts {
		if !slices.Contains(p.hosts, h) {
			p.hosts = append(p.hosts, h)
			added = true
		}
	}
	if added {
		p.set(p.hosts, "nats", "server", "hosts")
		p.created = append(p.created, "nats.server.hosts: "+strings.Join(p.hosts, ", "))
	}
	return p, nil
}

// mergeNames is names plus the keys of existing, sorted and without duplicates.
func mergeNames[V any](names []string, existing map[string]V) []string {
	out := slices.Clone(names)
	for k := range existing {
		out = append(out, k)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// entraSkeleton is a new Entra tenant with the documentation's placeholders; it loads, and the collector reports
// the placeholders until they are replaced.
func entraSkeleton() map[string]any {
	return map[string]any{
		"auth": map[string]any{"oauth": map[string]any{"clients": []map[string]any{
			{"client_id": "<client-id>", "client_secret": "<client-secret>"}}}},
		"general": map[string]any{"collect_interval": 5, "do_initial_load": false,
			"entra": map[string]any{"include_guest_users": false, "tenant_id": "<tenant-id>"}},
		"streams": []map[string]any{{"channel": "APP1",
			"comment": "Includes all roles for Enterprise Application App1 (replace with your channels and rules)",
			"rules":   []map[string]any{{"filter": `(user.roles.<App1-EnterpriseAppObjectID>.value -match ".*")`}}}},
		"dynamics": nil,
		"mapper":   nil,
	}
}

// hrSkeleton is a new HR tenant with placeholders.
func hrSkeleton() map[string]any {
	return map[string]any{
		"auth": map[string]any{"base_urls": []string{"https://hr-api.example.com"},
			"basic": map[string]any{"username": "<username>", "password": "<password>"}},
		"general": map[string]any{"collect_interval": "15 1 * * 1-5", "do_initial_load": false,
			"hr": map[string]any{"collect_query_string": "<collect-query-string>"}},
		"streams": []map[string]any{{"channel": "SF", "comment": "All included (replace with your channels and rules)",
			"rules": []map[string]any{{"filter": "(.*)"}}}},
		"dynamics": nil,
		// The least an hr mapper needs; the source attribute names are examples to adapt.
		"mapper": map[string]any{"user": []map[string]any{
			{"id": map[string]any{"map_to": "userName"}},
			{"startDate": map[string]any{"map_to": "startDate"}},
			{"endDate": map[string]any{"map_to": "endDate"}},
		}},
	}
}

func (p *bootstrapPlan) report(w io.Writer, cfgPath string, certs broker.Certs) {
	if len(p.created) == 0 && !certs.Generated && len(certs.Reissued) == 0 {
		fmt.Fprintf(w, "%s: nothing to add, the NATS configuration is complete.\n", cfgPath)
	} else {
		fmt.Fprintf(w, "%s: generated\n", cfgPath)
		for _, c := range p.created {
			fmt.Fprintf(w, "  - %s\n", c)
		}
		if certs.Generated {
			fmt.Fprintf(w, "  - CA and server certificate for %s: %s, %s, %s\n", strings.Join(broker.CertHosts(p.hosts), ", "),
				certs.CAFile, certs.CertFile, certs.KeyFile)
		}
		if len(certs.Reissued) > 0 {
			fmt.Fprintf(w, "  - server certificate re-issued by the same CA to add %s: %s (restart scim-stream to use it; gateways keep %s)\n",
				strings.Join(certs.Reissued, ", "), certs.CertFile, filepath.Base(certs.CAFile))
		}
	}
	var missing []string
	for _, h := range certs.Missing {
		if slices.Contains(p.hosts, h) {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "\nWarning: %s does not name %s and was not issued by a CA generated here, so it is left as it is:\n"+
			"  subscribers connecting by that name fail TLS verification; put a certificate that names it in %s.\n",
			certs.CertFile, strings.Join(missing, ", "), filepath.Dir(certs.CertFile))
	}
	fmt.Fprintln(w, "\nNext:")
	step := 1
	if len(p.skeleton) > 0 {
		fmt.Fprintf(w, "  %d. Replace the <placeholders> of %s (auth, tenant id or query, streams) in %s.\n"+
			"     Its placeholder secrets (client_secret, password) were written encrypted (enc:v1:…): overwrite them with\n"+
			"     the clear text, which is encrypted again on the next start.\n", step, strings.Join(p.skeleton, ", "), cfgPath)
		step++
	}
	fmt.Fprintf(w, "  %d. Start SCIM Stream: scim-stream -config %s (secrets are encrypted on start-up).\n", step, cfgPath)
	step++
	if certs.CAFile != "" {
		fmt.Fprintf(w, "  %d. Copy %s to every SCIM Gateway (stream.certificate.ca).\n", step, certs.CAFile)
		step++
	}
	example := "mycompany"
	typ := "entra"
	subject := "ENTRA.APP1"
	switch {
	case len(p.entra) > 0:
		example = p.entra[0]
	case len(p.hr) > 0:
		example, typ, subject = p.hr[0], "hr", "HR.SF"
	}
	fmt.Fprintf(w, "  %d. Issue subscriber credentials, e.g.:\n     scim-stream creds -config %s -tenant %s -type %s -subject %s -plugin plugin-loki -format gateway-json\n",
		step, cfgPath, example, typ, subject)
}
