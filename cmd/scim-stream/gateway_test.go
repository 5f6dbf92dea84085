package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

func TestGatewayCommandProvisionsTheStore(t *testing.T) {
	t.Setenv("SEED", "cmd-gateway-test")
	env := brokertest.Start(t, "acme")
	dir := t.TempDir()
	jwt, seed := env.SubscriberCreds(t, "acme", wire.HR, wire.DurableName("gateway", "undefined"))
	cfgPath := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(cfgPath, []byte(`scimgateway:
  port: 0
  stream:
    baseUrls: [`+env.URL()+`]
    certificate: {ca: `+env.CAFile()+`}
    subscriber:
      enabled: true
      entity:
        undefined:
          nats: {tenant: acme, subject: HR.SF, jwt: `+jwt+`, secret: `+seed+`}
`), 0o600)

	m := nats.NewMsg("HR.SF")
	m.Header.Set("Msg-Id", "cmd-1")
	m.Data, _ = json.Marshal(wire.Message{ActivityOperation: wire.CreateUser, Operations: []scim.Operation{},
		User: scim.User{"userName": "cmd@acme.com", "active": true}})
	if _, err := env.JetStream(t, "acme", wire.HR).PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- gatewayWith(ctx, cfgPath, "info", &out, &errOut) }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "action=created userName=cmd@acme.com") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no user provisioned:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d:\n%s", code, errOut.String())
	}
	if strings.Contains(out.String(), seed) {
		t.Fatal("the seed is in the log")
	}
	st, err := store.Open(filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.FindUser(context.Background(), "cmd@acme.com"); err != nil {
		t.Fatalf("after exit: %v", err)
	}
}

func TestGatewayCommandReportsConfigErrors(t *testing.T) {
	var out, errOut syncBuffer
	if code := gatewayWith(context.Background(), filepath.Join(t.TempDir(), "missing.json"), "info", &out, &errOut); code != 1 {
		t.Fatalf("missing file: exit %d", code)
	}
	if !strings.Contains(errOut.String(), "missing.json") {
		t.Errorf("error does not name the file: %s", errOut.String())
	}
	path := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(path, []byte(`{"scimgateway": {"stream": {"subscriber": {"enabled": true, "entity": {"undefined": {"nats": {"tenant": "acme", "subject": "ENTRA.APP1"}}}}}}}`), 0o600)
	errOut = syncBuffer{}
	if code := gatewayWith(context.Background(), path, "info", &out, &errOut); code != 1 {
		t.Fatalf("invalid file: exit %d", code)
	}
	for _, want := range []string{"baseUrls: is mandatory", "nats.jwt: is mandatory", "nats.secret: is mandatory"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("error lacks %q: %s", want, errOut.String())
		}
	}
}

// TestGatewayBinaryHasEveryEndpointType: endpoint.type selects among the types the binary registers.
func TestGatewayBinaryHasEveryEndpointType(t *testing.T) {
	if got := gatewayEndpoints.Types(); !slices.Equal(got, []string{"ldap", "scim", "store"}) {
		t.Fatalf("endpoint types %v, want [ldap scim store]", got)
	}
}

// nodePlugin is a Node SCIM Gateway plugin file (plugin-loki.json) with its stream block replaced by STREAM.
const nodePlugin = `{
  "scimgateway": {
    "port": 0,
    "localhostonly": false,
    "payloadSize": null,
    "scim": {"version": "2.0", "skipTypeConvert": false, "skipMetaLocation": false, "usePutSoftSync": true},
    "log": {"loglevel": {"file": "debug", "console": "error"}, "customMasking": []},
    "auth": {
      "basic": [{"username": "gwadmin", "password": "password", "readOnly": false, "baseEntities": []}],
      "bearerToken": [{"token": null, "readOnly": false, "baseEntities": []}]
    },
    "certificate": {"key": null, "cert": null, "ca": null, "pfx": {"bundle": null, "password": null}},
    "ipAllowList": [],
    "email": {"auth": {"type": "oauth", "options": {"tenantIdGUID": null, "clientId": null, "clientSecret": null}}, "emailOnError": {"enabled": false}},
    "stream": STREAM
  },
  "endpoint": {
    "entity": {"undefined": {"persistence": false}}
  }
}
`

// TestGatewayRunsANodePluginWithTheCredsBlock: a Node gateway's plugin file whose stream block is exactly what
// `scim-stream creds -format gateway-json` printed (nats:// URL of this host, ca.pem copied to certs/) runs
// under `scim-stream gateway` unchanged and provisions the store.
func TestGatewayRunsANodePluginWithTheCredsBlock(t *testing.T) {
	t.Setenv("SEED", "cmd-gateway-node-test")
	path, cfg := bootstrapped(t, "-entra", "acme", "-host", "localhost")
	b := startBroker(t, path, cfg)
	block, _ := mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "entra", "-plugin", "plugin-loki",
		"-subject", "ENTRA.APP1", "-format", "gateway-json")

	dir := t.TempDir()
	ca, err := os.ReadFile(caFile(path))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "certs"), 0o700)
	if err := os.WriteFile(filepath.Join(dir, "certs", "ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(dir, "plugin-loki.json")
	if err := os.WriteFile(plugin, []byte(strings.Replace(nodePlugin, "STREAM", strings.TrimSpace(block), 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	js, err := b.JetStream("acme", wire.Entra)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("ENTRA.APP1")
	m.Header.Set("Msg-Id", "node-plugin-1")
	m.Data, _ = json.Marshal(wire.Message{ActivityOperation: wire.CreateUser, Operations: []scim.Operation{},
		User: scim.User{"userName": "node@acme.com", "active": true, "roles": []any{
			map[string]any{"type": "App1", "display": "Admin access", "value": "Admins"}}}})
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	if _, err := js.PublishMsg(pctx, m); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- gatewayWith(ctx, plugin, "info", &out, &errOut) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "action=created userName=node@acme.com") {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no user provisioned:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d:\n%s", code, errOut.String())
	}
	raw, _ := os.ReadFile(plugin)
	if !json.Valid(raw) || strings.Contains(string(raw), `"password": "password"`) || strings.Count(string(raw), `"enc:v1:`) != 2 {
		t.Fatalf("the plugin file after the run (still JSON, password and seed encrypted):\n%s", raw)
	}
	st, err := store.Open(filepath.Join(dir, "plugin-loki.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.FindUser(context.Background(), "node@acme.com")
	if err != nil {
		t.Fatalf("after exit: %v", err)
	}
	if gs, _ := u["groups"].([]any); len(gs) != 1 || gs[0].(map[string]any)["display"] != "Admins" {
		t.Fatalf("the role did not become a group membership: %v", u["groups"])
	}
}
