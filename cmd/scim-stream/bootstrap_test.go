package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// cli runs a sub-command and returns its exit code and outputs.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := dispatch(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func mustCLI(t *testing.T, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := cli(t, args...)
	if code != 0 {
		t.Fatalf("scim-stream %s = %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

// testPort returns a TCP port that was free a moment ago.
func testPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// bootstrapped runs bootstrap in a fresh directory with the NATS port set to a free one.
func bootstrapped(t *testing.T, args ...string) (string, *config.Config) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config", "config.yaml")
	if _, err := config.EnsureFile(path); err != nil {
		t.Fatal(err)
	}
	if err := config.Update(path, config.Change{Path: []string{"nats", "server", "port"}, Value: testPort(t)}); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, append([]string{"bootstrap", "-config", path}, args...)...)
	cfg, err := config.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

func TestBootstrapCompletesAndIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "config.yaml")
	out, _ := mustCLI(t, "bootstrap", "-config", path, "-entra", "acme", "-hr", "acme,hrco", "-host", "gw.example.com")
	for _, want := range []string{"account acme/ENTRA", "account acme/HR", "account acme/GW", "account hrco/HR", "account hrco/GW",
		"gw.example.com", "scim-stream creds", "ca.pem"} {
		if !strings.Contains(out, want) {
			t.Errorf("bootstrap output lacks %q:\n%s", want, out)
		}
	}
	cfg, err := config.Check(path)
	if err != nil {
		t.Fatalf("bootstrapped config does not load: %v", err)
	}
	if cfg.NeedsBootstrap() {
		t.Fatal("config still needs bootstrap")
	}
	acc := cfg.Nats.Server.Auth.Account
	if acc["acme"].Entra == nil || acc["acme"].HR == nil || acc["acme"].GW == nil || acc["hrco"].HR == nil || acc["hrco"].Entra != nil {
		t.Fatalf("accounts: %+v %+v", acc["acme"], acc["hrco"])
	}
	if cfg.Nats.Server.Auth.State == nil || cfg.Nats.Publisher["acme"] == nil || cfg.Nats.Publisher["hrco"].Secret == "" {
		t.Fatal("state account or publishers missing")
	}
	for _, k := range []string{"pub_secret", "sub_entra_secret"} {
		if acc["acme"].Entra.Signing[k] == "" {
			t.Errorf("acme entra signing.%s missing", k)
		}
	}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if _, err := os.Stat(filepath.Join(config.CertsDir(path), f)); err != nil {
			t.Errorf("certificate file: %v", err)
		}
	}
	raw, _ := os.ReadFile(path)
	for _, s := range cfg.Secrets() {
		if s != "" && bytes.Contains(raw, []byte(s.Reveal())) && strings.HasPrefix(s.Reveal(), "S") {
			t.Fatal("an NKey seed is stored in clear text")
		}
	}
	ca1, _ := os.ReadFile(filepath.Join(config.CertsDir(path), "ca.pem"))

	// Again with the same tenants: nothing changes.
	out, _ = mustCLI(t, "bootstrap", "-config", path, "-entra", "acme", "-hr", "acme")
	if !strings.Contains(out, "nothing to add") {
		t.Errorf("second run output:\n%s", out)
	}
	if raw2, _ := os.ReadFile(path); !bytes.Equal(raw, raw2) {
		t.Fatal("a second bootstrap with the same tenants changed the file")
	}

	// An extra tenant is added; everything else keeps its value.
	mustCLI(t, "bootstrap", "-config", path, "-entra", "newco")
	cfg2, err := config.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg2.Nats.Server.Auth.Account["newco"] == nil || cfg2.Nats.Server.Auth.Account["newco"].Entra == nil || cfg2.Entra["newco"] == nil {
		t.Fatal("newco not added")
	}
	if cfg2.Nats.Server.Auth.Operator != cfg.Nats.Server.Auth.Operator ||
		cfg2.Nats.Server.Auth.Account["acme"].Entra.JWT != acc["acme"].Entra.JWT ||
		cfg2.Nats.Server.Auth.Account["acme"].Entra.Signing["sub_entra_secret"] != acc["acme"].Entra.Signing["sub_entra_secret"] ||
		cfg2.Nats.Publisher["acme"].Secret != cfg.Nats.Publisher["acme"].Secret {
		t.Fatal("adding a tenant changed an existing key")
	}
	if ca2, _ := os.ReadFile(filepath.Join(config.CertsDir(path), "ca.pem")); !bytes.Equal(ca1, ca2) {
		t.Fatal("the CA was regenerated")
	}
	// Accounts are signed by the operator.
	oc, _ := jwt.DecodeOperatorClaims(cfg2.Nats.Server.Auth.Operator.JWT)
	ac, _ := jwt.DecodeAccountClaims(cfg2.Nats.Server.Auth.Account["newco"].Entra.JWT)
	if ac.Issuer != oc.Subject {
		t.Fatal("new account not signed by the existing operator")
	}
}

func TestBootstrapRejectsBadTenantName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if code, _, errOut := cli(t, "bootstrap", "-config", path, "-entra", "my.company"); code != 1 || !strings.Contains(errOut, "my.company") {
		t.Fatalf("bootstrap with a dotted tenant = %d, %q", code, errOut)
	}
	for _, h := range []string{"gw.example.com:9012", "tls://gw.example.com", "two words"} {
		code, _, errOut := cli(t, "bootstrap", "-config", path, "-entra", "acme", "-host", h)
		if code != 1 || !strings.Contains(errOut, "-host: \""+h+"\" is not a host name or IP address") {
			t.Errorf("bootstrap -host %s = %d, %q", h, code, errOut)
		}
	}
	if code, out, errOut := cli(t, "bootstrap", "-config", path, "-entra", "acme", "-host", "gw.example.com,10.0.0.7,::1,gw_2.corp"); code != 0 {
		t.Errorf("bootstrap with valid hosts = %d\n%s%s", code, out, errOut)
	}
}

// startBroker starts the embedded broker from a bootstrapped configuration, on its configured port.
func startBroker(t *testing.T, path string, cfg *config.Config) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{
		StoreDir: filepath.Join(config.Dir(path), "jetstream"),
		CertsDir: config.CertsDir(path),
		Host:     "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	if !strings.HasSuffix(b.ClientURL(), ":"+strconv.Itoa(cfg.Nats.Server.Port)) {
		t.Fatalf("broker URL %s, configured port %d", b.ClientURL(), cfg.Nats.Server.Port)
	}
	return b
}

// TestBootstrapAddsHostToCertificate: bootstrap -host on an installation whose certificate exists adds the name to
// the server certificate, issued by the same CA, and a client connecting by that name verifies it.
func TestBootstrapAddsHostToCertificate(t *testing.T) {
	path, _ := bootstrapped(t, "-entra", "acme", "-host", "gw1.example.com")
	ca1, err := os.ReadFile(caFile(path))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := mustCLI(t, "bootstrap", "-config", path, "-host", "gw2.example.com")
	if !strings.Contains(out, "re-issued by the same CA to add gw2.example.com") || !strings.Contains(out, "nats.server.hosts: gw1.example.com, gw2.example.com") {
		t.Fatalf("bootstrap output:\n%s", out)
	}
	if ca2, _ := os.ReadFile(caFile(path)); !bytes.Equal(ca1, ca2) {
		t.Fatal("the CA changed")
	}
	cfg, err := config.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Nats.Server.Hosts, ",") != "gw1.example.com,gw2.example.com" {
		t.Fatalf("nats.server.hosts %v", cfg.Nats.Server.Hosts)
	}
	b := startBroker(t, path, cfg)
	u, err := natsauth.IssueSubscriber(cfg, "acme", wire.Entra, anyChannel(cfg, "acme", wire.Entra), "d", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Dial 127.0.0.1 but verify the certificate as gw2.example.com, as a gateway using that name does.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca1)
	for _, name := range []string{"gw1.example.com", "gw2.example.com"} {
		nc, err := nats.Connect(strings.Replace(b.ClientURL(), "localhost", "127.0.0.1", 1), nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()),
			nats.Secure(&tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}), nats.MaxReconnects(0))
		if err != nil {
			t.Fatalf("connect verifying the certificate as %s: %v", name, err)
		}
		nc.Close()
	}
	if _, err := nats.Connect(strings.Replace(b.ClientURL(), "localhost", "127.0.0.1", 1), nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()),
		nats.Secure(&tls.Config{RootCAs: pool, ServerName: "gw3.example.com", MinVersion: tls.VersionTLS12}), nats.MaxReconnects(0)); err == nil {
		t.Fatal("control: a name the certificate lacks verified")
	}
}

// anyChannel is a subject of the first configured channel of (tenant, typ), or <typ>.> when there is none.
func anyChannel(cfg *config.Config, tenant string, typ wire.Type) string {
	if chans := natsauth.Channels(cfg, tenant, typ); len(chans) > 0 {
		return wire.Subject(typ, chans[0])
	}
	return wire.Subject(typ, ">")
}
