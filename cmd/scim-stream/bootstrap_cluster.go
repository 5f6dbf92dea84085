package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// planCluster adds to p what cluster mode needs: the role templates of the existing accounts brought up to date
// (credentials issued before gain the cluster's JetStream API forms), and for nodes (their host names, also put
// into the certificate by the caller) nats.server.cluster with the routes of every node and 3 replicas (fewer with
// fewer nodes). Every node uses the same file; its name comes from its host name or
// SCIM_STREAM_NATS_SERVER_CLUSTER_NAME.
func planCluster(cfg *config.Config, p *natsauth.BootstrapPlan, nodes []string, routePort int) error {
	auth := cfg.Nats.Server.Auth
	for _, t := range sortedTenants(auth.Account) {
		ta := auth.Account[t]
		for _, a := range []struct {
			typ  wire.Type
			key  string
			keys *config.AccountKeys
		}{{wire.Entra, "entra", ta.Entra}, {wire.HR, "hr", ta.HR}, {wire.GW, "gw", ta.GW}} {
			if a.keys == nil || a.keys.JWT == "" {
				continue
			}
			n, changed, err := natsauth.RefreshTemplates(auth.Operator, a.keys, t, a.typ)
			if err != nil {
				return err
			}
			if changed {
				p.Changes = append(p.Changes, config.Change{Path: []string{"nats", "server", "auth", "account", t, a.key, "jwt"}, Value: n.JWT})
				p.Created = append(p.Created, fmt.Sprintf("account %s: role permissions updated", natsauth.AccountName(t, a.typ)))
			}
		}
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
	if c := cfg.Nats.Server.Cluster; c != nil && strings.Join(c.Routes, ",") == strings.Join(routes, ",") {
		return nil
	}
	set := func(v any, path ...string) {
		p.Changes = append(p.Changes, config.Change{Path: append([]string{"nats", "server", "cluster"}, path...), Value: v})
	}
	set(routes, "routes")
	if routePort != config.DefaultClusterPort {
		set(routePort, "port")
	}
	set(min(3, len(nodes)), "replicas")
	p.Created = append(p.Created, fmt.Sprintf("nats.server.cluster: %d nodes (%s), route port %d, %d replicas",
		len(nodes), strings.Join(nodes, ", "), routePort, min(3, len(nodes))))
	return nil
}

func sortedTenants(m map[string]*config.TenantAccounts) []string {
	var out []string
	for t, ta := range m {
		if ta != nil {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// reportCluster tells how to start the nodes.
func reportCluster(w io.Writer, nodes []string, cfgPath string) {
	if len(nodes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nCluster: copy %s and its certs/ directory to every node (same SEED on each), then start each node:\n", cfgPath)
	for _, n := range nodes {
		name, _, _ := strings.Cut(n, ".")
		fmt.Fprintf(w, "  on %s: SCIM_STREAM_NATS_SERVER_CLUSTER_NAME=%s scim-stream -config %s\n", n, name, cfgPath)
	}
	fmt.Fprintln(w, "Subscribers get every node's URL in baseUrls.")
}
