package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/scim"
)

func TestGatewayCommandProvisionsTheStore(t *testing.T) {
	t.Setenv("SEED", "cmd-gateway-test")
	env := brokertest.Start(t, "acme")
	dir := t.TempDir()
	jwt, seed := env.SubscriberCreds(t, "acme", natsauth.HR, natsauth.DurableName("gateway", "undefined"))
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
	m.Data, _ = json.Marshal(scim.Message{ActivityOperation: scim.CreateUser, Operations: []scim.Operation{},
		User: scim.User{"userName": "cmd@acme.com", "active": true}})
	if _, err := env.JetStream(t, "acme", natsauth.HR).PublishMsg(context.Background(), m); err != nil {
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
