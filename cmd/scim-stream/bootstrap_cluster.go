package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// planCluster adds nats.server.cluster for nodes (their host names, also put into the certificate by the caller):
// the routes of every node and 3 replicas (fewer with fewer nodes). Every node uses the same file; its name comes
// from its host name or SCIM_STREAM_NATS_SERVER_CLUSTER_NAME.
func (p *bootstrapPlan) planCluster(cfg *config.Config, nodes []string, routePort int) error {
	if p.err != nil {
		return p.err
	}
	if len(nodes) == 0 {
		return nil
	}
	if routePort < 1 || routePort > 65535 {
		return fmt.Errorf("-route-port %d is not a TCP port", routePort)
	}
	var routes []string
	for _, n := range nodes {
		if err := config.CheckHost(n); err != nil {
			return fmt.Errorf("-nodes: %w", err)
		}
		routes = append(routes, fmt.Sprintf("nats-route://%s:%d", n, routePort))
	}
	p.nodes = nodes
	if c := cfg.Nats.Server.Cluster; c != nil && strings.Join(c.Routes, ",") == strings.Join(routes, ",") {
		return nil
	}
	p.set(routes, "nats", "server", "cluster", "routes")
	if routePort != config.DefaultClusterPort {
		p.set(routePort, "nats", "server", "cluster", "port")
	}
	p.set(min(3, len(nodes)), "nats", "server", "cluster", "replicas")
	p.created = append(p.created, fmt.Sprintf("nats.server.cluster: %d nodes (%s), route port %d, %d replicas",
		len(nodes), strings.Join(nodes, ", "), routePort, min(3, len(nodes))))
	return nil
}

// refreshTemplates brings an existing account's role permission templates up to this version's (credentials
// issued before keep working and gain, for instance, the cluster's JetStream API forms).
func (p *bootstrapPlan) refreshTemplates(op config.Operator, acc *config.AccountKeys, tenant string, typ wire.Type, key string) {
	a, changed, err := natsauth.RefreshTemplates(op, acc, tenant, typ)
	if err != nil {
		p.err = err
		return
	}
	if changed {
		p.set(a.JWT, "nats", "server", "auth", "account", tenant, key, "jwt")
		p.created = append(p.created, fmt.Sprintf("account %s: role permissions updated", natsauth.AccountName(tenant, typ)))
	}
}

// reportCluster tells how to start the nodes.
func (p *bootstrapPlan) reportCluster(w io.Writer, cfgPath string) {
	if len(p.nodes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nCluster: copy %s and its certs/ directory to every node (same SEED on each), then start each node:\n", cfgPath)
	for _, n := range p.nodes {
		name, _, _ := strings.Cut(n, ".")
		fmt.Fprintf(w, "  on %s: SCIM_STREAM_NATS_SERVER_CLUSTER_NAME=%s scim-stream -config %s\n", n, name, cfgPath)
	}
	fmt.Fprintln(w, "Subscribers get every node's URL in baseUrls.")
}
