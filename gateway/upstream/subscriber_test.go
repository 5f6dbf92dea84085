package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// TestSubscriberHonoursRetryAfter runs the bundled gateway's subscriber with the scim endpoint against an
// application that answers the first create with 429 and Retry-After: 2. The gateway's own back-off is 50 ms, so
// a retry before two seconds means the Retry-After was ignored. Only the lower bound is checked: a slow machine
// can make the retry later, never earlier.
func TestSubscriberHonoursRetryAfter(t *testing.T) {
	const retryAfter = 2 * time.Second
	h := newStoreServer(t)
	var mu sync.Mutex
	var throttledAt, createdAt time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			mu.Lock()
			first := throttledAt.IsZero()
			if first {
				throttledAt = time.Now()
			} else if createdAt.IsZero() {
				createdAt = time.Now()
			}
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "2")
				w.Header().Set("Content-Type", "application/scim+json")
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":"slow down"}`))
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	env := brokertest.Start(t, "acme")
	jwt, seed := env.SubscriberCreds(t, "acme", wire.Entra, wire.DurableName("gw", "app"))
	cfg := gateway.SubscriberConfig("gw", t.TempDir(), []string{env.URL()}, env.CAFile(), map[string]gateway.Entity{
		"app": {NATS: gateway.NATS{Tenant: "acme", Subject: "ENTRA.APP1", JWT: jwt, Secret: config.Secret(seed)}},
	})
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("type: scim\nbase_urls: ["+srv.URL+"]\n"), &n); err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = gateway.EndpointConfig{Type: Type, Node: n.Content[0]}
	g, err := gateway.Open(context.Background(), cfg, gateway.Options{Endpoints: endpoint.Factories{Type: OpenConfig}})
	if err != nil {
		t.Fatal(err)
	}
	g.RetryMin, g.RetryMax = 50*time.Millisecond, 100*time.Millisecond
	events := make(chan gateway.Event, 10)
	g.OnEvent = func(e gateway.Event) { events <- e }
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done; g.Close() })

	data, _ := json.Marshal(wire.Message{ActivityOperation: wire.CreateUser, Operations: []scim.Operation{},
		User: scim.User{"userName": "throttled@example.com", "active": true}})
	m := nats.NewMsg("ENTRA.APP1")
	m.Header.Set("Msg-Id", "retry-after-1")
	m.Header.Set(jetstream.MsgIDHeader, "retry-after-1")
	m.Data = data
	if _, err := env.JetStream(t, "acme", wire.Entra).PublishMsg(ctx(t), m); err != nil {
		t.Fatal(err)
	}

	var got []gateway.Action
	deadline := time.After(30 * time.Second)
	for len(got) == 0 || got[len(got)-1] == gateway.ActionRetrying {
		select {
		case e := <-events:
			got = append(got, e.Action)
		case <-deadline:
			t.Fatalf("events %v: the message was never applied", got)
		}
	}
	if len(got) != 2 || got[0] != gateway.ActionRetrying || got[1] != gateway.ActionCreated {
		t.Fatalf("events %v, want [retrying created]", got)
	}
	mu.Lock()
	waited := createdAt.Sub(throttledAt)
	mu.Unlock()
	t.Logf("waited %s", waited)
	if waited < retryAfter {
		t.Fatalf("retried %s after the 429, before its Retry-After of %s", waited, retryAfter)
	}
	if _, err := g.Endpoint.FindUser(ctx(t), "throttled@example.com"); err != nil {
		t.Fatalf("after the retry: %v", err)
	}
}
