package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

const tenant = "acme"

// world is a real broker (TLS, JWT auth, per-type accounts) with a gateway subscribed through it into a store.
type world struct {
	t   testing.TB
	env *brokertest.Env
	dir string
}

func newWorld(t testing.TB) *world {
	return &world{t: t, env: brokertest.Start(t, tenant), dir: t.TempDir()}
}

func typeOf(subject string) wire.Type {
	typ, _ := wire.TypeOf(subject)
	return typ
}

// publish publishes a message body the way the pipeline does (Msg-Id and Nats-Msg-Id).
func (w *world) publish(subject, id string, body any) {
	w.t.Helper()
	data, ok := body.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(body); err != nil {
			w.t.Fatal(err)
		}
	}
	m := nats.NewMsg(subject)
	if id != "" {
		m.Header.Set("Msg-Id", id)
		m.Header.Set(jetstream.MsgIDHeader, id)
	}
	m.Data = data
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := w.env.JetStream(w.t, tenant, typeOf(subject)).PublishMsg(ctx, m); err != nil {
		w.t.Fatalf("publish %s: %v", subject, err)
	}
}

// entity returns a subscriber entity for subject with creds bound to the durable the gateway will use.
func (w *world) entity(gwName, entityKey, subject string) gateway.Entity {
	jwt, seed := w.env.SubscriberCreds(w.t, tenant, typeOf(subject), wire.DurableName(gwName, entityKey))
	return gateway.Entity{NATS: gateway.NATS{Tenant: tenant, Subject: subject, JWT: jwt, Secret: config.Secret(seed)}}
}

// config is a gateway configuration built in code (as the demo does).
func (w *world) config(name string, softSync bool, entities map[string]gateway.Entity) *gateway.Config {
	c := gateway.SubscriberConfig(name, w.dir, []string{w.env.URL()}, w.env.CAFile(), entities)
	c.Scimgateway.Scim.UsePutSoftSync = softSync
	return c
}

// running is a started gateway and what it reported.
type running struct {
	g      *gateway.Gateway
	st     *store.Store
	cancel context.CancelFunc
	done   chan error
	log    *logBuf

	mu     sync.Mutex
	events []gateway.Event
}

// start opens and runs a gateway until the test ends (or stop).
func (w *world) start(cfg *gateway.Config) *running { return w.startHook(cfg, nil) }

// startHook is start with hook called on every event too.
func (w *world) startHook(cfg *gateway.Config, hook func(gateway.Event)) *running {
	w.t.Helper()
	return w.startRetry(cfg, hook, 50*time.Millisecond, 400*time.Millisecond)
}

// startRetry is startHook with the gateway's retry back-off bounds.
func (w *world) startRetry(cfg *gateway.Config, hook func(gateway.Event), retryMin, retryMax time.Duration) *running {
	w.t.Helper()
	r := &running{log: &logBuf{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := gateway.Open(context.Background(), cfg, options(log))
	if err != nil {
		w.t.Fatal(err)
	}
	g.RetryMin, g.RetryMax = retryMin, retryMax
	g.OnEvent = func(e gateway.Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
		if hook != nil {
			hook(e)
		}
	}
	r.g = g
	r.st = g.Endpoint.(*store.Store)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- g.Run(ctx) }()
	w.t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	<-r.done
	r.g.Close()
}

func (r *running) eventList() []gateway.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gateway.Event(nil), r.events...)
}

// waitEvents waits until n events were reported (whatever their action) and returns them.
func (r *running) waitEvents(t *testing.T, n int) []gateway.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := r.eventList()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events, want %d: %+v\nlog:\n%s", len(evs), n, evs, r.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *running) user(t *testing.T, userName string) scim.User {
	t.Helper()
	u, err := r.st.FindUser(context.Background(), userName)
	if err != nil {
		t.Fatalf("FindUser %s: %v", userName, err)
	}
	return u
}

func (r *running) absent(t *testing.T, userName string) {
	t.Helper()
	if u, err := r.st.FindUser(context.Background(), userName); err == nil {
		t.Fatalf("user %s exists: %v", userName, u)
	}
}

// groupNames returns the displayNames of the user's groups, sorted.
func groupNames(u scim.User) []string {
	var out []string
	arr, _ := u["groups"].([]any)
	for _, e := range arr {
		out = append(out, e.(map[string]any)["display"].(string))
	}
	slices.Sort(out)
	return out
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// msg builds a stream message.
func msg(op string, user map[string]any, ops ...scim.Operation) wire.Message {
	if ops == nil {
		ops = []scim.Operation{}
	}
	return wire.Message{ActivityOperation: op, Operations: ops, User: scim.User(user)}
}

func person(userName string, extra ...any) map[string]any {
	u := map[string]any{
		"userName": userName, "active": true, "displayName": "John Smith",
		"name":   map[string]any{"givenName": "John", "familyName": "Smith"},
		"emails": []any{map[string]any{"type": "work", "value": userName}},
		"title":  "Consultant",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		u[extra[i].(string)] = extra[i+1]
	}
	return u
}

func group(name string) map[string]any { return map[string]any{"value": name, "display": name} }

func role(app, display, value string) map[string]any {
	return map[string]any{"type": app, "display": display, "value": value}
}

var seq int

func nextID() string {
	seq++
	return fmt.Sprintf("m-%d-%d", time.Now().UnixNano(), seq)
}

// options are these tests' gateway options: the store endpoint, logging to log (nil: nowhere).
func options(log *slog.Logger) gateway.Options {
	return gateway.Options{Endpoints: endpoint.Factories{store.Type: store.OpenConfig}, Log: log}
}
