package natsauth

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/jwt/v2"

	"github.com/scim-stream/scim-stream/config"
)

// ClusterNode is one node of an exported cluster: its host name (what the other nodes and the clients reach it
// by) and its files.
type ClusterNode struct {
	Host string
	// Name is the node's name (default: the host name's first label).
	Name string
	// Dir is the node's directory of certificates, leaf credentials, store and account resolver.
	Dir string
	// Ports overrides the common ports for this node (zero values keep them): several nodes on one machine.
	Ports *ClusterPorts
}

// ClusterPorts are a node's ports.
type ClusterPorts struct{ ClientPort, HubPort, RoutePort, LeafPort int }

// ports are node n's ports.
func (o ClusterExportOptions) ports(n ClusterNode) ClusterPorts {
	p := ClusterPorts{o.ClientPort, o.HubPort, o.RoutePort, o.LeafPort}
	if n.Ports != nil {
		for _, f := range []struct {
			dst *int
			v   int
		}{{&p.ClientPort, n.Ports.ClientPort}, {&p.HubPort, n.Ports.HubPort},
			{&p.RoutePort, n.Ports.RoutePort}, {&p.LeafPort, n.Ports.LeafPort}} {
			if f.v != 0 {
				*f.dst = f.v
			}
		}
	}
	return p
}

// ClusterExportOptions are the ports and files of an exported cluster; every node uses the same ports.
type ClusterExportOptions struct {
	Nodes []ClusterNode
	// ClientPort is the fronts' port (subscribers); HubPort the hubs' client port (SCIM Stream itself);
	// RoutePort the hubs' route port; LeafPort the hub's leaf node port on loopback (its front only).
	ClientPort, HubPort, RoutePort, LeafPort int
	// CertFile, KeyFile, CAFile are file names inside each node's Dir.
	CertFile, KeyFile, CAFile string
	EncryptionAtRestKey       config.Secret
}

// ClusterServerConfigs returns, per node, the configuration of its hub and of its front for a stock nats-server
// (two processes per node; the layout of broker/cluster.go), and the leaf credentials each front needs, by file
// name inside the node's Dir. The credentials hold secrets.
func ClusterServerConfigs(cfg *config.Config, o ClusterExportOptions) (hubs, fronts []string, creds map[string]string, err error) {
	auth := cfg.Nats.Server.Auth
	if auth.Operator.JWT == "" {
		return nil, nil, nil, fmt.Errorf("export-nats: nats.server.auth.operator is missing: run scim-stream bootstrap first")
	}
	sys, err := jwt.DecodeAccountClaims(auth.Operator.SysAccountJWT)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("export-nats: nats.server.auth.operator.sys_account_jwt: %w", err)
	}
	type acct struct {
		name, pub, jwt, front string
		keys                  *config.AccountKeys
	}
	var accts []acct
	add := func(name string, a *config.AccountKeys, front bool) error {
		if a == nil || a.JWT == "" {
			return nil
		}
		ac, err := jwt.DecodeAccountClaims(a.JWT)
		if err != nil {
			return fmt.Errorf("export-nats: account %s: %w", name, err)
		}
		x := acct{name: ac.Name, pub: ac.Subject, jwt: a.JWT, keys: a}
		if front {
			if x.front, err = FrontAccountJWT(auth.Operator, a.JWT); err != nil {
				return err
			}
		}
		accts = append(accts, x)
		return nil
	}
	// The same list the embedded broker serves, channel accounts included; the state account only on the hubs.
	for _, a := range Accounts(cfg) {
		if err := add(a.Name(), a.Keys, a.Type != State); err != nil {
			return nil, nil, nil, err
		}
	}
	sort.Slice(accts, func(i, j int) bool { return accts[i].name < accts[j].name })
	q := strconv.Quote
	creds = map[string]string{}
	pass := RoutePassword(auth.Operator)
	for _, n := range o.Nodes {
		node, _, _ := strings.Cut(n.Host, ".")
		if n.Name != "" {
			node = n.Name
		}
		np := o.ports(n)
		path := func(f string) string { return q(n.Dir + "/" + f) }
		var h strings.Builder
		fmt.Fprintf(&h, "# Hub of node %s, exported by scim-stream export-nats -nodes: JetStream (domain %s) and routes.\n", node, HubDomain)
		fmt.Fprintf(&h, "# SCIM Stream connects here (nats.publisher.<tenant>.urls); subscribers use the front.\n")
		fmt.Fprintf(&h, "server_name: %s\nport: %d\n", q(OperatorName+"-"+node), np.HubPort)
		fmt.Fprintf(&h, "tls {\n  cert_file: %s\n  key_file: %s\n  timeout: 2\n}\n", path(o.CertFile), path(o.KeyFile))
		fmt.Fprintf(&h, "jetstream {\n  store_dir: %s\n  domain: %s\n", path("jetstream"), HubDomain)
		if o.EncryptionAtRestKey != "" {
			fmt.Fprintf(&h, "  key: %s\n", q(o.EncryptionAtRestKey.Reveal()))
		}
		fmt.Fprintf(&h, "}\ncluster {\n  name: \"scim-stream\"\n  listen: \"0.0.0.0:%d\"\n", np.RoutePort)
		fmt.Fprintf(&h, "  authorization {\n    user: \"route\"\n    password: %s\n  }\n", q(pass))
		fmt.Fprintf(&h, "  tls {\n    cert_file: %s\n    key_file: %s\n    ca_file: %s\n    timeout: 2\n  }\n", path(o.CertFile), path(o.KeyFile), path(o.CAFile))
		fmt.Fprintf(&h, "  routes: [\n")
		for _, p := range o.Nodes {
			fmt.Fprintf(&h, "    %s\n", q(fmt.Sprintf("nats-route://route:%s@%s:%d", pass, p.Host, o.ports(p).RoutePort)))
		}
		fmt.Fprintf(&h, "  ]\n}\n")
		fmt.Fprintf(&h, "leafnodes {\n  listen: \"127.0.0.1:%d\"\n}\n", np.LeafPort)
		fmt.Fprintf(&h, "operator: %s\nsystem_account: %s\n", q(auth.Operator.JWT), sys.Subject)
		fmt.Fprintf(&h, "resolver {\n  type: full\n  dir: %s\n  allow_delete: false\n}\n", path("jwt"))
		fmt.Fprintf(&h, "resolver_preload {\n  # system account\n  %s: %s\n", sys.Subject, q(auth.Operator.SysAccountJWT))
		for _, a := range accts {
			fmt.Fprintf(&h, "  # %s\n  %s: %s\n", a.name, a.pub, q(a.jwt))
		}
		fmt.Fprintf(&h, "}\n")
		hubs = append(hubs, h.String())

		var f strings.Builder
		fmt.Fprintf(&f, "# Front of node %s, exported by scim-stream export-nats -nodes: the port subscribers use, named\n", node)
		fmt.Fprintf(&f, "# SCIM-Stream, joined to its hub as a leaf node per account; JetStream API mapped into domain %s.\n", HubDomain)
		fmt.Fprintf(&f, "server_name: %s\nport: %d\n", q(OperatorName), np.ClientPort)
		fmt.Fprintf(&f, "tls {\n  cert_file: %s\n  key_file: %s\n  timeout: 2\n}\n", path(o.CertFile), path(o.KeyFile))
		// A unique cluster name without a listener: a hub keeps one leaf connection per (server name, cluster
		// name, account), and every front is called SCIM-Stream.
		fmt.Fprintf(&f, "cluster {\n  name: %s\n}\n", q("front-"+node))
		fmt.Fprintf(&f, "leafnodes {\n  remotes: [\n")
		for _, a := range accts {
			if a.front == "" {
				continue // the internal state account is not reachable from the front
			}
			u, kp, err := LeafUser(a.keys, "front "+a.name)
			if err != nil {
				return nil, nil, nil, err
			}
			seed, _ := kp.Seed()
			file, err := jwt.FormatUserConfig(u, seed)
			if err != nil {
				return nil, nil, nil, err
			}
			name := "leaf-" + strings.NewReplacer("/", "-").Replace(a.name) + ".creds"
			creds[n.Dir+"/"+name] = string(file)
			fmt.Fprintf(&f, "    { url: %s, account: %s, credentials: %s }\n", q(fmt.Sprintf("nats-leaf://127.0.0.1:%d", np.LeafPort)), a.pub, path(name))
		}
		fmt.Fprintf(&f, "  ]\n}\n")
		fmt.Fprintf(&f, "operator: %s\nsystem_account: %s\n", q(auth.Operator.JWT), sys.Subject)
		fmt.Fprintf(&f, "resolver: MEMORY\nresolver_preload {\n  # system account\n  %s: %s\n", sys.Subject, q(auth.Operator.SysAccountJWT))
		for _, a := range accts {
			if a.front != "" {
				fmt.Fprintf(&f, "  # %s (front copy)\n  %s: %s\n", a.name, a.pub, q(a.front))
			}
		}
		fmt.Fprintf(&f, "}\n")
		fronts = append(fronts, f.String())
	}
	return hubs, fronts, creds, nil
}
