package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/wire"
)

func caFile(path string) string { return filepath.Join(config.CertsDir(path), "ca.pem") }

// pullOne creates the Node gateway's durable on subject and fetches one message.
func pullOne(t *testing.T, nc *nats.Conn, tenant, durable, subject string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx, tenant, jetstream.ConsumerConfig{Durable: durable, FilterSubject: subject,
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("durable %s: %v", durable, err)
	}
	b, err := c.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		_ = m.Ack()
		return string(m.Data())
	}
	t.Fatalf("no message on %s", subject)
	return ""
}

func publishTo(t *testing.T, b *broker.Broker, tenant string, typ wire.Type, subject, body string) {
	t.Helper()
	js, err := b.JetStream(tenant, typ)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := nats.NewMsg(subject)
	m.Header.Set("Msg-Id", body)
	m.Data = []byte(body)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestCredsRevokeRotateAgainstRunningBroker(t *testing.T) {
	path, cfg := bootstrapped(t, "-entra", "acme", "-hr", "acme")
	b := startBroker(t, path, cfg)
	publishTo(t, b, "acme", "ENTRA", "ENTRA.APP1", "hello-entra")

	// .creds for the Node gateway's plugin-loki durable.
	credsText, errOut := mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "entra", "-plugin", "plugin-loki")
	if !strings.Contains(credsText, "BEGIN NATS USER JWT") || !strings.Contains(credsText, "BEGIN USER NKEY SEED") {
		t.Fatalf("creds output:\n%s", credsText)
	}
	credsFile := filepath.Join(t.TempDir(), "sub.creds")
	if err := os.WriteFile(credsFile, []byte(credsText), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseDecoratedJWT([]byte(credsText))
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Name != "durable_plugin-loki_undefined" || !strings.Contains(errOut, uc.Subject) {
		t.Fatalf("user name %q; stderr %q", uc.Name, errOut)
	}
	closed := make(chan struct{})
	nc, err := nats.Connect(b.ClientURL(), nats.UserCredentials(credsFile), nats.RootCAs(caFile(path)), nats.MaxReconnects(0),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := pullOne(t, nc, "acme", "durable_plugin-loki_undefined", "ENTRA.APP1"); got != "hello-entra" {
		t.Fatalf("pulled %q", got)
	}

	// The Node gateway's stream block, for an HR subscriber.
	out, _ := mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "hr", "-subject", "HR.SF",
		"-plugin", "plugin-ldap", "-entity", "company.one", "-format", "gateway-json")
	var block struct {
		BaseURLs    []string          `json:"baseUrls"`
		Certificate map[string]string `json:"certificate"`
		Subscriber  struct {
			Enabled bool `json:"enabled"`
			Entity  map[string]struct {
				Nats struct{ Tenant, Subject, JWT, Secret string } `json:"nats"`
			} `json:"entity"`
		} `json:"subscriber"`
	}
	if err := json.Unmarshal([]byte(out), &block); err != nil {
		t.Fatalf("gateway-json: %v\n%s", err, out)
	}
	e := block.Subscriber.Entity["company.one"].Nats
	if !block.Subscriber.Enabled || e.Tenant != "acme" || e.Subject != "HR.SF" || block.Certificate["ca"] != "ca.pem" ||
		len(block.BaseURLs) != 1 || !strings.HasPrefix(block.BaseURLs[0], "nats://") {
		t.Fatalf("gateway block %+v", block)
	}
	publishTo(t, b, "acme", "HR", "HR.SF", "hello-hr")
	hrConn, err := nats.Connect(b.ClientURL(), nats.UserJWTAndSeed(e.JWT, e.Secret), nats.RootCAs(caFile(path)), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer hrConn.Close()
	// Node's naming rule: '.' in the entity becomes '_'.
	if got := pullOne(t, hrConn, "acme", "durable_plugin-ldap_company_one", "HR.SF"); got != "hello-hr" {
		t.Fatalf("HR pulled %q", got)
	}

	// YAML for our gateway, GW publisher role.
	out, _ = mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "gw", "-role", "gw_pub", "-subject", "GW.APPX", "-format", "gateway-yaml")
	var y struct {
		Stream struct {
			Publisher struct {
				Entity map[string]struct {
					Nats struct{ Subject string } `yaml:"nats"`
				} `yaml:"entity"`
			} `yaml:"publisher"`
		} `yaml:"stream"`
	}
	if err := yaml.Unmarshal([]byte(out), &y); err != nil || y.Stream.Publisher.Entity["undefined"].Nats.Subject != "GW.APPX" {
		t.Fatalf("gateway-yaml: %v\n%s", err, out)
	}

	// Revoke the ENTRA user through the CLI: the running server drops it at once.
	start := time.Now()
	_, errOut = mustCLI(t, "revoke", "-config", path, "-tenant", "acme", "-user", uc.Subject)
	if !strings.Contains(errOut, "applied") {
		t.Fatalf("revoke stderr: %s", errOut)
	}
	select {
	case <-closed:
		t.Logf("revoked connection dropped %v after the command started", time.Since(start))
	case <-time.After(3 * time.Second):
		t.Fatal("revoked user still connected")
	}
	if _, err := nats.Connect(b.ClientURL(), nats.UserCredentials(credsFile), nats.RootCAs(caFile(path)), nats.MaxReconnects(0)); err == nil {
		t.Fatal("revoked user connected again")
	}
	cfg2, err := config.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	ac, _ := jwt.DecodeAccountClaims(cfg2.Nats.Server.Auth.Account["acme"].Entra.JWT)
	if _, ok := ac.Revocations[uc.Subject]; !ok {
		t.Fatal("the revocation is not in config.yaml")
	}

	// Rotate sub_hr: the HR subscriber drops; the publisher keeps publishing.
	hrClosed := make(chan struct{})
	hrConn.SetClosedHandler(func(*nats.Conn) { close(hrClosed) })
	mustCLI(t, "rotate", "-config", path, "-tenant", "acme", "-role", "sub_hr")
	select {
	case <-hrClosed:
	case <-time.After(3 * time.Second):
		t.Fatal("user of the rotated role still connected")
	}
	if _, err := nats.Connect(b.ClientURL(), nats.UserJWTAndSeed(e.JWT, e.Secret), nats.RootCAs(caFile(path)), nats.MaxReconnects(0)); err == nil {
		t.Fatal("user of the rotated key connected again")
	}
	publishTo(t, b, "acme", "HR", "HR.SF", "after-rotate")
	// New credentials from the rotated key work.
	out, _ = mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "hr", "-durable", "d2", "-format", "gateway-json")
	if err := json.Unmarshal([]byte(out), &block); err != nil {
		t.Fatal(err)
	}
	e = block.Subscriber.Entity["undefined"].Nats
	fresh, err := nats.Connect(b.ClientURL(), nats.UserJWTAndSeed(e.JWT, e.Secret), nats.RootCAs(caFile(path)), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("credentials of the new key: %v", err)
	}
	fresh.Close()
}

func TestCredsErrors(t *testing.T) {
	path, _ := bootstrapped(t, "-entra", "acme")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-tenant", "acme", "-type", "entra"}, "-plugin"},
		{[]string{"-tenant", "acme", "-type", "hr", "-durable", "d"}, "bootstrap -hr acme"},
		{[]string{"-tenant", "acme", "-type", "entra", "-durable", "d", "-subject", "HR.SF"}, "starts with ENTRA."},
		{[]string{"-tenant", "acme", "-type", "entra", "-durable", "a.b"}, "durable"},
		{[]string{"-tenant", "acme", "-type", "xx"}, "entra, hr or gw"},
		{[]string{"-tenant", "acme", "-type", "entra", "-durable", "d", "-format", "xml"}, "-format"},
	} {
		code, _, errOut := cli(t, append([]string{"creds", "-config", path}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("creds %v = %d, stderr %q, want mention of %q", c.args, code, errOut, c.want)
		}
	}
}

// TestCredsGatewayBlocksLoad pastes the gateway-json block into a Node-style plugin file and the gateway-yaml block
// under scimgateway: of a YAML gateway configuration; the bundled gateway loads both, and the durable it derives
// from its name and entity is the one the user is bound to.
func TestCredsGatewayBlocksLoad(t *testing.T) {
	path, _ := bootstrapped(t, "-entra", "acme", "-hr", "acme")
	dir := t.TempDir()

	js, _ := mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "entra", "-subject", "ENTRA.APP1",
		"-plugin", "plugin-loki", "-format", "gateway-json")
	node := `{"scimgateway": {"port": 0, "scim": {"usePutSoftSync": true}, "stream": ` + js + `}, "endpoint": {}}`
	nodePath := filepath.Join(dir, "plugin-loki.json")
	if err := os.WriteFile(nodePath, []byte(node), 0o600); err != nil {
		t.Fatal(err)
	}

	ys, _ := mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "hr", "-subject", "HR.SF",
		"-plugin", "hr-gateway", "-entity", "company.one", "-format", "gateway-yaml")
	indented := "  " + strings.ReplaceAll(strings.TrimRight(ys, "\n"), "\n", "\n  ")
	yamlPath := filepath.Join(dir, "hr-gateway.yaml")
	if err := os.WriteFile(yamlPath, []byte("scimgateway:\n  port: 0\n  scim: {usePutSoftSync: true}\n"+indented+"\nendpoint: {type: store}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ file, entity, tenant, subject string }{
		{nodePath, "undefined", "acme", "ENTRA.APP1"},
		{yamlPath, "company.one", "acme", "HR.SF"},
	} {
		gc, err := gateway.LoadConfig(c.file)
		if err != nil {
			t.Fatalf("%s does not load in the gateway: %v", filepath.Base(c.file), err)
		}
		st := gc.Scimgateway.Stream
		e, ok := st.Subscriber.Entity[c.entity]
		if !ok || !st.Subscriber.Enabled || e.NATS.Tenant != c.tenant || e.NATS.Subject != c.subject || len(st.BaseURLs) != 1 || st.Certificate.CA != "ca.pem" {
			t.Fatalf("%s: stream block %+v", filepath.Base(c.file), st)
		}
		uc, err := jwt.DecodeUserClaims(e.NATS.JWT)
		if err != nil {
			t.Fatal(err)
		}
		if want := wire.DurableName(gc.Name, c.entity); uc.Name != want {
			t.Errorf("%s: user bound to durable %q, the gateway uses %q", filepath.Base(c.file), uc.Name, want)
		}
	}
}
