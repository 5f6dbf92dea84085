package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
)

// TestBootstrapClusterNodes: -nodes writes the cluster's routes and replicas, puts every node's name into the
// certificate, brings an account issued before the cluster forms existed up to date, and a second run changes
// nothing.
func TestBootstrapClusterNodes(t *testing.T) {
	path, cfg := bootstrapped(t, "-hr", "acme")
	// An installation from before cluster mode: its subscriber role lacks the $JS.scimhub.API. forms.
	acc := cfg.Nats.Server.Auth.Account["acme"].HR
	ac, _ := jwt.DecodeAccountClaims(acc.JWT)
	for _, k := range ac.SigningKeys.Keys() {
		s, _ := ac.SigningKeys.GetScope(k)
		us := s.(*jwt.UserScope)
		if us.Role == string(natsauth.SubHR) {
			us.Template.Permissions.Pub.Allow = slices.DeleteFunc(us.Template.Permissions.Pub.Allow,
				func(s string) bool { return strings.HasPrefix(s, "$JS.scimhub.") })
			ac.SigningKeys.AddScopedSigner(us)
		}
	}
	old, err := ac.Encode(mustOperatorKey(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := config.Update(path, config.Change{Path: []string{"nats", "server", "auth", "account", "acme", "hr", "jwt"}, Value: old}); err != nil {
		t.Fatal(err)
	}
	nodes := "scim-stream-0.scim-stream-hl,scim-stream-1.scim-stream-hl,scim-stream-2.scim-stream-hl"
	out, _ := mustCLI(t, "bootstrap", "-config", path, "-nodes", nodes)
	for _, want := range []string{"nats.server.cluster: 3 nodes", "account acme/HR: role permissions updated",
		"SCIM_STREAM_NATS_SERVER_CLUSTER_NAME=scim-stream-1 scim-stream"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bootstrap output lacks %q:\n%s", want, out)
		}
	}
	cfg, err = config.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Nats.Server.Cluster
	if c == nil || c.Replicas != 3 || c.Port != config.DefaultClusterPort || len(c.Routes) != 3 ||
		c.Routes[1] != "nats-route://scim-stream-1.scim-stream-hl:9014" {
		t.Fatalf("cluster %+v", c)
	}
	nac, _ := jwt.DecodeAccountClaims(cfg.Nats.Server.Auth.Account["acme"].HR.JWT)
	var allow []string
	for _, k := range nac.SigningKeys.Keys() {
		if sc, _ := nac.SigningKeys.GetScope(k); sc != nil {
			if us, ok := sc.(*jwt.UserScope); ok && us.Role == string(natsauth.SubHR) {
				allow = us.Template.Permissions.Pub.Allow
			}
		}
	}
	if !slices.Contains(allow, "$JS.scimhub.API.CONSUMER.MSG.NEXT.acme.{{name()}}") {
		t.Fatalf("the refreshed subscriber role lacks the hub domain form: %v", allow)
	}
	b, err := os.ReadFile(strings.Replace(caFile(path), "ca.pem", "cert.pem", 1))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range strings.Split(nodes, ",") {
		if !slices.Contains(cert.DNSNames, n) {
			t.Fatalf("the certificate does not name node %s: %v", n, cert.DNSNames)
		}
	}
	again, _ := mustCLI(t, "bootstrap", "-config", path, "-nodes", nodes)
	if !strings.Contains(again, "nothing to add") {
		t.Fatalf("second run:\n%s", again)
	}
}

func mustOperatorKey(t *testing.T, cfg *config.Config) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(cfg.Nats.Server.Auth.Operator.Secret.Reveal()))
	if err != nil {
		t.Fatal(err)
	}
	return kp
}
