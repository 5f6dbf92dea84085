package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Cluster is nats.server.cluster: this node's place in a JetStream cluster of SCIM Stream nodes. Every node runs
// the same configuration file; what differs per node (name, routes) usually comes from the environment
// (SCIM_STREAM_NATS_SERVER_CLUSTER_NAME=$(POD_NAME)), and the name defaults to the host name, which a Kubernetes
// StatefulSet makes unique and stable.
type Cluster struct {
	// Name is this node's name, unique in the cluster (default: the host name).
	Name string `yaml:"name"`
	// Port is the route port the other nodes connect to (default DefaultClusterPort).
	Port int `yaml:"port"`
	// Routes are the other nodes' route URLs (nats-route://host:port); this node's own URL may be listed too.
	Routes []string `yaml:"routes"`
	// Replicas is how many copies of every stream and state bucket the cluster keeps (default 3 with routes,
	// else 1).
	Replicas int `yaml:"replicas"`
	// ImportState is a file written by `scim-stream state-export` on a single node that this cluster replaces
	// (relative to the configuration's directory): imported into empty state buckets.
	ImportState string `yaml:"import_state"`
}

// DefaultClusterPort is the default route port of nats.server.cluster.
const DefaultClusterPort = 9014

// nodeNameRE is what a node name must be: it becomes part of the NATS server name and of lease holder ids.
var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Clustered reports whether nats.server.cluster is configured.
func (s *NatsServer) Clustered() bool { return s.Cluster != nil }

// Replicas is the number of copies of streams and state buckets: nats.server.cluster.replicas, or 1 without a
// cluster.
func (s *NatsServer) Replicas() int {
	if s.Cluster == nil || s.Cluster.Replicas < 1 {
		return 1
	}
	return s.Cluster.Replicas
}

// defaultCluster fills nats.server.cluster's defaults.
func defaultCluster(l *loader, c *Cluster) {
	if c == nil {
		return
	}
	setDefault(l, "nats.server.cluster.port", &c.Port, DefaultClusterPort)
	if !l.present("nats.server.cluster.name") {
		if h, err := os.Hostname(); err == nil {
			// A host name such as node-a.example.com: its first label is the node name.
			c.Name, _, _ = strings.Cut(h, ".")
		}
	}
	if !l.present("nats.server.cluster.replicas") {
		c.Replicas = 1
		if len(c.Routes) > 0 {
			c.Replicas = 3
		}
	}
}

// validateCluster checks nats.server.cluster.
func (l *loader) validateCluster(s *NatsServer) {
	c := s.Cluster
	if c == nil {
		return
	}
	const p = "nats.server.cluster"
	if !nodeNameRE.MatchString(c.Name) {
		l.errAt(p+".name", fmt.Sprintf("%q is not a node name: use 1 to 64 letters, digits, '-' or '_', unique per node "+
			"(set it per node, e.g. SCIM_STREAM_NATS_SERVER_CLUSTER_NAME=node-a)", c.Name))
	}
	if c.Port < 1 || c.Port > 65535 {
		l.errAt(p+".port", fmt.Sprintf("%d is not a TCP port (default %d)", c.Port, DefaultClusterPort))
	} else if c.Port == s.Port || (s.MonitorPort != 0 && c.Port == s.MonitorPort) {
		l.errAt(p+".port", fmt.Sprintf("%d is already nats.server.port or monitor_port: the route port needs its own port (default %d)", c.Port, DefaultClusterPort))
	}
	for i, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" || u.Port() == "" || (u.Scheme != "nats-route" && u.Scheme != "nats" && u.Scheme != "tls") {
			l.errAt(fmt.Sprintf("%s.routes[%d]", p, i), fmt.Sprintf("%q is not a route URL such as nats-route://node-b:%d", r, DefaultClusterPort))
		}
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		l.errAt(p+".replicas", fmt.Sprintf("%d copies: JetStream keeps 1 to 5 (default 3 with routes)", c.Replicas))
	} else if c.Replicas > len(c.Routes)+1 && len(c.Routes) > 0 {
		l.errAt(p+".replicas", fmt.Sprintf("%d copies need %d nodes, but the cluster has at most %d (%d routes and this node)", c.Replicas, c.Replicas, len(c.Routes)+1, len(c.Routes)))
	}
	if s.UseExternalServer && len(c.Routes) > 0 {
		l.errAt(p+".routes", "an external server's cluster is configured in its own nats-server.conf (scim-stream export-nats -nodes): "+
			"with use_external_server keep only nats.server.cluster.replicas")
	}
}
