package natsauth

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/jwt/v2"

	"github.com/scim-stream/scim-stream/config"
)

// ExportOptions are the file locations written into an exported nats-server configuration.
type ExportOptions struct {
	Port                  int
	CertFile, KeyFile     string
	StoreDir, ResolverDir string
	// EncryptionAtRestKey, when set, becomes jetstream.key (the file then holds a secret).
	EncryptionAtRestKey config.Secret
}

// ServerConfig is a nats-server.conf with which a stock nats-server serves SCIM Stream's tenants: same server name
// (the Node client insists on it), TLS, JetStream, the operator, the system account, and a full account resolver
// preloaded with every account JWT (so revoke and rotate can push updates to it).
func ServerConfig(cfg *config.Config, o ExportOptions) (string, error) {
	auth := cfg.Nats.Server.Auth
	if auth.Operator.JWT == "" {
		return "", fmt.Errorf("export-nats: nats.server.auth.operator is missing: run scim-stream bootstrap first")
	}
	sys, err := jwt.DecodeAccountClaims(auth.Operator.SysAccountJWT)
	if err != nil {
		return "", fmt.Errorf("export-nats: nats.server.auth.operator.sys_account_jwt: %w", err)
	}
	preload := map[string]string{sys.Subject: auth.Operator.SysAccountJWT}
	names := map[string]string{sys.Subject: "system account"}
	add := func(label string, a *config.AccountKeys) error {
		if a == nil || a.JWT == "" {
			return nil
		}
		ac, err := jwt.DecodeAccountClaims(a.JWT)
		if err != nil {
			return fmt.Errorf("export-nats: account %s: %w", label, err)
		}
		preload[ac.Subject] = a.JWT
		names[ac.Subject] = ac.Name
		return nil
	}
	// The same list the embedded broker serves, channel accounts included.
	for _, a := range Accounts(cfg) {
		if err := add(a.Name(), a.Keys); err != nil {
			return "", err
		}
	}
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "# nats-server configuration exported by scim-stream export-nats.\n")
	fmt.Fprintf(&b, "# Start: nats-server -c nats-server.conf; then set nats.server.use_external_server: true and\n")
	fmt.Fprintf(&b, "# nats.publisher.<tenant>.urls in SCIM Stream's config.yaml.\n")
	fmt.Fprintf(&b, "server_name: %s\n", q(OperatorName))
	fmt.Fprintf(&b, "port: %d\n", o.Port)
	fmt.Fprintf(&b, "tls {\n  cert_file: %s\n  key_file: %s\n  timeout: 2\n}\n", q(o.CertFile), q(o.KeyFile))
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %s\n", q(o.StoreDir))
	if o.EncryptionAtRestKey != "" {
		fmt.Fprintf(&b, "  key: %s\n", q(o.EncryptionAtRestKey.Reveal()))
	}
	fmt.Fprintf(&b, "}\n")
	fmt.Fprintf(&b, "operator: %s\n", q(auth.Operator.JWT))
	fmt.Fprintf(&b, "system_account: %s\n", sys.Subject)
	fmt.Fprintf(&b, "resolver {\n  type: full\n  dir: %s\n  allow_delete: false\n}\n", q(o.ResolverDir))
	keys := make([]string, 0, len(preload))
	for k := range preload {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return names[keys[i]] < names[keys[j]] })
	fmt.Fprintf(&b, "resolver_preload {\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  # %s\n  %s: %s\n", names[k], k, q(preload[k]))
	}
	fmt.Fprintf(&b, "}\n")
	return b.String(), nil
}
