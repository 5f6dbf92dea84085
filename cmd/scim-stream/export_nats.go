package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
)

func init() {
	register("export-nats", "write a nats-server.conf (and certificates) serving the same tenants on an external server", runExportNats)
}

func runExportNats(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("export-nats", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	out := fs.String("out", "", "output directory (mandatory; created)")
	withKey := fs.Bool("encryption-key", false, "also write nats.server.encryption_at_rest_key as jetstream.key (the file then holds a secret)")
	nodes := fs.String("nodes", "", "a cluster: every node's host name, comma-separated (writes a hub and a front configuration per node)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(stderr, "scim-stream export-nats: -out is mandatory")
		fs.Usage()
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "scim-stream export-nats:", err)
		return 1
	}
	cfg, err := config.Check(*cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s:\n%s", *cfgPath, maskedErr(err)))
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	// The external server presents the same certificate chain, so gateways keep their CA file.
	// A cluster's nodes must be named by the certificate too (routes verify it); a generated one gains them.
	certs, err := broker.EnsureCerts(config.CertsDir(*cfgPath), cfg.Nats.Server.Certificate, broker.CertHosts(append(cfg.Nats.Server.Hosts, splitList(*nodes)...)))
	if err != nil {
		return fail(err)
	}
	copies := []struct{ from, to string }{{certs.CertFile, "cert.pem"}, {certs.KeyFile, "key.pem"}}
	if certs.CAFile != "" {
		copies = append(copies, struct{ from, to string }{certs.CAFile, "ca.pem"})
	}
	for _, c := range copies {
		b, err := os.ReadFile(c.from)
		if err != nil {
			return fail(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.to), b, 0o600); err != nil {
			return fail(err)
		}
	}
	if *nodes != "" {
		return exportCluster(cfg, dir, certs, splitList(*nodes), *withKey, stdout, stderr)
	}
	o := natsauth.ExportOptions{
		Port:        cfg.Nats.Server.Port,
		CertFile:    filepath.Join(dir, "cert.pem"),
		KeyFile:     filepath.Join(dir, "key.pem"),
		StoreDir:    filepath.Join(dir, "jetstream"),
		ResolverDir: filepath.Join(dir, "jwt"),
	}
	if *withKey {
		o.EncryptionAtRestKey = cfg.Nats.Server.EncryptionAtRestKey
	}
	conf, err := natsauth.ServerConfig(cfg, o)
	if err != nil {
		return fail(err)
	}
	path := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "wrote %s (with cert.pem, key.pem, ca.pem)\n", path)
	fmt.Fprintln(stdout, "Next:")
	fmt.Fprintf(stdout, "  1. nats-server -c %s   (nats-server >= 2.9.4; the certificate must name the host gateways use)\n", path)
	fmt.Fprintln(stdout, "  2. In config.yaml: nats.server.use_external_server: true and nats.publisher.<tenant>.urls: [nats://<host>:<port>]")
	fmt.Fprintln(stdout, "  3. Start scim-stream: it creates the streams there; existing subscriber credentials stay valid.")
	return 0
}
