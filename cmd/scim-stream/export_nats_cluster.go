package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
)

// Ports of an exported cluster besides nats.server.port (the fronts, for subscribers).
const (
	exportHubPort  = 9015 // the hubs' client port: SCIM Stream's own connections
	exportLeafPort = 7422 // each hub's leaf node port, on loopback, for its front
)

// exportCluster writes, per node, <dir>/<node>/hub.conf and front.conf (two nats-server processes per node: the
// layout of the embedded cluster mode), the certificates and the fronts' leaf credentials.
func exportCluster(cfg *config.Config, dir string, certs broker.Certs, hosts []string, withKey bool, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "scim-stream export-nats:", err)
		return 1
	}
	if len(hosts) < 3 {
		return fail(fmt.Errorf("-nodes %s: a JetStream cluster that survives the loss of a node needs 3 nodes or more", strings.Join(hosts, ",")))
	}
	o := natsauth.ClusterExportOptions{ClientPort: cfg.Nats.Server.Port, HubPort: exportHubPort, RoutePort: config.DefaultClusterPort,
		LeafPort: exportLeafPort, CertFile: "cert.pem", KeyFile: "key.pem", CAFile: "ca.pem"}
	if c := cfg.Nats.Server.Cluster; c != nil && c.Port != 0 {
		o.RoutePort = c.Port
	}
	if withKey {
		o.EncryptionAtRestKey = cfg.Nats.Server.EncryptionAtRestKey
	}
	for _, h := range hosts {
		if err := config.CheckHost(h); err != nil {
			return fail(fmt.Errorf("-nodes: %w", err))
		}
		name, _, _ := strings.Cut(h, ".")
		o.Nodes = append(o.Nodes, natsauth.ClusterNode{Host: h, Dir: filepath.Join(dir, name)})
	}
	hubs, fronts, creds, err := natsauth.ClusterServerConfigs(cfg, o)
	if err != nil {
		return fail(err)
	}
	var missing []string
	for _, h := range hosts {
		if !certNames(certs, h) {
			missing = append(missing, h)
		}
	}
	for i, n := range o.Nodes {
		if err := os.MkdirAll(n.Dir, 0o700); err != nil {
			return fail(err)
		}
		files := map[string][]byte{"hub.conf": []byte(hubs[i]), "front.conf": []byte(fronts[i])}
		for from, to := range map[string]string{certs.CertFile: "cert.pem", certs.KeyFile: "key.pem", certs.CAFile: "ca.pem"} {
			b, err := os.ReadFile(from)
			if err != nil {
				return fail(err)
			}
			files[to] = b
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(n.Dir, name), b, 0o600); err != nil {
				return fail(err)
			}
		}
	}
	for path, c := range creds {
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			return fail(err)
		}
	}
	fmt.Fprintf(stdout, "wrote a %d-node cluster under %s: per node hub.conf, front.conf, leaf credentials and certificates\n", len(hosts), dir)
	if len(missing) > 0 {
		fmt.Fprintf(stdout, "Warning: the certificate does not name %s: run scim-stream bootstrap -nodes %s first, then export again.\n",
			strings.Join(missing, ", "), strings.Join(hosts, ","))
	}
	fmt.Fprintln(stdout, "Next:")
	fmt.Fprintf(stdout, "  1. Copy each node's directory to that node at the same path, and on each node start both:\n")
	fmt.Fprintf(stdout, "       nats-server -c %s   (JetStream, routes on port %d; SCIM Stream connects to port %d)\n",
		filepath.Join(dir, "<node>", "hub.conf"), o.RoutePort, o.HubPort)
	fmt.Fprintf(stdout, "       nats-server -c %s (SCIM-Stream on port %d for subscribers)\n", filepath.Join(dir, "<node>", "front.conf"), o.ClientPort)
	var urls []string
	for _, h := range hosts {
		urls = append(urls, fmt.Sprintf("tls://%s:%d", h, o.HubPort))
	}
	fmt.Fprintf(stdout, "  2. In config.yaml: nats.server.use_external_server: true, nats.server.cluster.replicas: 3 and\n     nats.publisher.<tenant>.urls: [%s]\n", strings.Join(urls, ", "))
	fmt.Fprintln(stdout, "  3. Subscribers get every node's front URL (port", o.ClientPort, ") in baseUrls.")
	return 0
}

// certNames reports whether the server certificate names host.
func certNames(c broker.Certs, host string) bool {
	for _, h := range c.Missing {
		if h == host {
			return false
		}
	}
	return true
}
