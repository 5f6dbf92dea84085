package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
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
	var entra, hr, hosts, nodes listFlag // repeatable: -hr acme -hr initech adds both
	fs.Var(&entra, "entra", "entra collector tenant names, comma-separated or the flag repeated (e.g. mycompany)")
	fs.Var(&hr, "hr", "hr collector tenant names, comma-separated or the flag repeated")
	fs.Var(&hosts, "host", "extra host names or IPs subscribers use to reach this server (certificate SANs), comma-separated or repeated")
	fs.Var(&nodes, "nodes", "cluster mode: every node's host name, comma-separated (routes, certificate names; see README, High availability)")
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
	b, err := natsauth.PlanBootstrap(cfg, entra, hr, append(slices.Clone(hosts), nodes...))
	if err == nil {
		err = planCluster(cfg, b, nodes, *routePort)
	}
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream bootstrap:", err)
		return 1
	}
	if len(b.Changes) > 0 {
		if err := config.Update(*cfgPath, b.Changes...); err != nil {
			fmt.Fprintln(stderr, "scim-stream bootstrap:", err)
			return 1
		}
	}
	certs, err := broker.EnsureCerts(config.CertsDir(*cfgPath), cfg.Nats.Server.Certificate, broker.CertHosts(b.Hosts))
	if err != nil {
		fmt.Fprintln(stderr, "scim-stream bootstrap:", err)
		return 1
	}
	if _, err := config.Check(*cfgPath); err != nil {
		fmt.Fprintf(stderr, "scim-stream bootstrap: %s was written but does not load:\n%s\n", *cfgPath, maskedErr(err))
		return 1
	}
	bootstrapReport(stdout, b, *cfgPath, certs)
	reportCluster(stdout, nodes, *cfgPath)
	return 0
}

// bootstrapReport tells the operator what bootstrap generated and what to do next.
func bootstrapReport(w io.Writer, p *natsauth.BootstrapPlan, cfgPath string, certs broker.Certs) {
	if len(p.Created) == 0 && !certs.Generated && len(certs.Reissued) == 0 {
		fmt.Fprintf(w, "%s: nothing to add, the NATS configuration is complete.\n", cfgPath)
	} else {
		fmt.Fprintf(w, "%s: generated\n", cfgPath)
		for _, c := range p.Created {
			fmt.Fprintf(w, "  - %s\n", c)
		}
		if certs.Generated {
			fmt.Fprintf(w, "  - CA and server certificate for %s: %s, %s, %s\n", strings.Join(broker.CertHosts(p.Hosts), ", "),
				certs.CAFile, certs.CertFile, certs.KeyFile)
		}
		if len(certs.Reissued) > 0 {
			fmt.Fprintf(w, "  - server certificate re-issued by the same CA to add %s: %s (restart scim-stream to use it; gateways keep %s)\n",
				strings.Join(certs.Reissued, ", "), certs.CertFile, filepath.Base(certs.CAFile))
		}
	}
	var missing []string
	for _, h := range certs.Missing {
		if slices.Contains(p.Hosts, h) {
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
	if len(p.Skeleton) > 0 {
		fmt.Fprintf(w, "  %d. Replace the <placeholders> of %s (auth, tenant id or query, streams) in %s.\n"+
			"     Its placeholder secrets (client_secret, password) were written encrypted (enc:v1:…): overwrite them with\n"+
			"     the clear text, which is encrypted again on the next start.\n", step, strings.Join(p.Skeleton, ", "), cfgPath)
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
	case len(p.Entra) > 0:
		example = p.Entra[0]
	case len(p.HR) > 0:
		example, typ, subject = p.HR[0], "hr", "HR.SF"
	}
	fmt.Fprintf(w, "  %d. Issue subscriber credentials, e.g.:\n     scim-stream creds -config %s -tenant %s -type %s -subject %s -plugin plugin-loki -format gateway-json\n",
		step, cfgPath, example, typ, subject)
}
