package scimserver_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/wire"
)

func freeTCPPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runGateway writes a gateway config file and runs the gateway until the test ends.
func runGateway(t *testing.T, name, yaml string) *gateway.Gateway {
	dir := t.TempDir()
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.Open(ctx, cfg, gateway.Options{
		Endpoints: endpoint.Factories{store.Type: store.OpenConfig},
		Runners:   map[string]gateway.Runner{"scim-server": scimserver.Run},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway %s: %v", name, err)
		}
		g.Close()
	})
	return g
}

// TestGatewayPublisherToResponder runs two gateways from configuration files the way `scim-stream gateway` does:
// a publisher with an HTTP port and basic auth, and a responder with a GW subscriber entity and no port.
func TestGatewayPublisherToResponder(t *testing.T) {
	t.Setenv("SEED", "runner-test")
	env := brokertest.Start(t, "runco")
	sjwt, sseed := env.SubscriberCreds(t, "runco", wire.GW, "GW.APPX")
	pjwt, pseed := env.GatewayPublisherCreds(t, "runco", "GW.APPX")
	stream := fmt.Sprintf("baseUrls: [%q]\n    certificate: {ca: %q}\n", env.URL(), env.CAFile())

	responder := runGateway(t, "responder", fmt.Sprintf(`
scimgateway:
  port: 0
  stream:
    %s    subscriber:
      enabled: true
      entity:
        undefined:
          nats: {tenant: runco, subject: GW.APPX, jwt: %q, secret: %q}
endpoint: {type: store}
`, stream, sjwt, sseed))

	port := freeTCPPort(t)
	publisher := runGateway(t, "publisher", fmt.Sprintf(`
scimgateway:
  port: %d
  auth:
    basic:
      - {username: gwadmin, password: password, readOnly: false, baseEntities: []}
  stream:
    %s    publisher:
      enabled: true
      timeout: 10
      entity:
        undefined:
          nats: {tenant: runco, subject: GW.APPX, jwt: %q, secret: %q}
endpoint: {type: store}
`, port, stream, pjwt, pseed))

	c := &scimClient{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), auth: func(r *http.Request) { r.SetBasicAuth("gwadmin", "password") }}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(c.base + "/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the publisher never listened")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var created reply
	for { // the responder subscribes asynchronously: 503 until it does
		created = c.do("POST", "/Users", `{"userName":"bjensen","active":true}`)
		if created.status != 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mustStatus(t, created, 201, "create through the publisher")
	if u, err := responder.Endpoint.FindUser(t.Context(), "bjensen"); err != nil || u["id"] != created.str("id") {
		t.Fatalf("not in the responder's endpoint: %v %v", u, err)
	}
	if _, err := publisher.Endpoint.FindUser(t.Context(), "bjensen"); err == nil {
		t.Fatal("the publisher executed the request itself")
	}
	mustStatus(t, c.do("POST", "/Groups", `{"displayName":"Admins"}`), 201, "group")
	roles := c.do("GET", "/AppRoles", "")
	mustStatus(t, roles, 200, "AppRoles through the publisher")
	if r := roles.resources(); len(r) != 1 || len(r[0]["appRoles"].([]any)) != 1 {
		t.Fatalf("AppRoles: %s", roles.raw)
	}
	c.auth = nil
	mustStatus(t, c.do("GET", "/Users", ""), 401, "no credentials")
}
