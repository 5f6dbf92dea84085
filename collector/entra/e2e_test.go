package entra_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/collector/entra"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// These tests run the whole Entra chain as the product does: the imitation Graph over HTTPS → entra.New with
// entra.OptionsFor of the compiled documentation example (testdata/config/entra-example.yaml) → collector
// Pipeline → the real embedded broker (JetStream stream "mycompany" in the tenant's ENTRA account, state KV) →
// a nats.go pull subscriber per channel that fetches and acks.
//
// They do not run in parallel: each starts a broker, and the package's parallel tests include one that bounds
// how long a collection takes (TestAuditBudgetRespected), which brokers starting beside it under -race on two
// cores made fail. Most of their time is spent waiting for the audit API budget and Retry-After anyway.

const tenantName = "mycompany"

// exampleFile is the documentation's five-channel Entra example.
const exampleFile = "../../testdata/config/entra-example.yaml"

// channels of the example, in its order.
var channels = []string{"APP1", "APP2", "APP3", "APP4", "APP5"}

// syncRule is the documentation's rule for a channel provisioning Active Directory behind Entra Connect: App1's
// roles, but not the changes the sync account made (they came from AD and must not loop back).
func syncRule(app1 string) config.Stream {
	return config.Stream{Channel: "AD", Comment: "App1 roles, without changes made by Entra Connect",
		Rules: []config.Filter{{Filter: `(user.roles.` + app1 + `.value -match ".*") and (initiatedByUpn -match "(?!Sync_.*)")`}}}
}

// exampleTenant loads the documentation example and points it at the imitation: its tenant id, Graph and login
// URLs, and the ids the example uses as placeholders replaced by the imitation's (Application1's service
// principal for <App1-EnterpriseAppObjectID>, Sales and Consultants for <group1-id> and <group2-id>, and the
// imitation's application name "Application1" for the example's "Application 1"). The example's OAuth client
// is registered with the imitation, so auth is used as configured.
func exampleTenant(t testing.TB, co *graph.Company, srv *graph.Server, ts *httptest.Server) *config.Tenant {
	t.Helper()
	c, err := config.Check(exampleFile)
	if err != nil {
		t.Fatalf("%s: %v", exampleFile, err)
	}
	tc := c.Entra[tenantName]
	if tc == nil || len(tc.Streams) != len(channels) {
		t.Fatalf("%s: entra.%s with %d streams expected", exampleFile, tenantName, len(channels))
	}
	for _, cl := range tc.Auth.OAuth.Clients {
		srv.AddClient(cl.ClientID, cl.ClientSecret.Reveal())
	}
	tc.General.Entra.TenantID = co.ID
	tc.General.Entra.GraphURL = ts.URL
	tc.General.Entra.LoginURL = ts.URL
	r := strings.NewReplacer(
		"a12f063b-1c8b-40e0-9988-01b46f478349", co.App1,
		"9936d283-2ac4-4c78-a8a0-52631fb20344", co.Groups["Sales"],
		"dc384382-b3b6-4d6b-a6da-e9801c4ba150", co.Groups["Consultants"],
		"user.roles.Application 1.", "user.roles.Application1.")
	for i := range tc.Streams {
		if tc.Streams[i].Channel != channels[i] {
			t.Fatalf("%s: stream %d is %s, want %s", exampleFile, i, tc.Streams[i].Channel, channels[i])
		}
		for j := range tc.Streams[i].Rules {
			tc.Streams[i].Rules[j].Filter = r.Replace(tc.Streams[i].Rules[j].Filter)
		}
	}
	return tc
}

// world is one imitation tenant, the broker, a pipeline and a subscriber.
type world struct {
	t      testing.TB
	ctx    context.Context
	co     *graph.Company
	srv    *graph.Server
	ts     *httptest.Server
	env    *brokertest.Env
	cfg    *config.Tenant
	tenant *collector.Tenant
	src    *entra.Source
	p      *collector.Pipeline
	cons   map[string]jetstream.Consumer
}

// newWorld builds the chain. setup runs on the company before anything is collected (seed changes the first
// collection already sees); tweak edits the tenant configuration before it is compiled.
func newWorld(t testing.TB, setup func(*graph.Company), tweak func(*world, *config.Tenant)) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, co: graph.NewCompany(nil)}
	if setup != nil {
		setup(w.co)
	}
	w.srv = graph.NewServer(w.co.Tenant)
	w.srv.PageSize = 7 // paging followed on every query
	w.ts = w.srv.Start()
	t.Cleanup(w.ts.Close)
	w.cfg = exampleTenant(t, w.co, w.srv, w.ts)
	if tweak != nil {
		tweak(w, w.cfg)
	}
	w.env = brokertest.Start(t, tenantName)
	kv := w.env.StateKV(t, tenantName, wire.Entra)
	w.p = &collector.Pipeline{JS: w.env.JetStream(t, tenantName, wire.Entra), State: collector.NewState(kv)}
	w.rebuild()

	// The subscriber: one durable pull consumer per channel, as a gateway per application would hold.
	jwt, seed := w.env.SubscriberCreds(t, tenantName, wire.Entra, "")
	js, err := jetstream.New(w.env.Connect(t, jwt, seed))
	if err != nil {
		t.Fatal(err)
	}
	w.cons = map[string]jetstream.Consumer{}
	for _, s := range w.cfg.Streams {
		c, err := js.CreateConsumer(ctx, tenantName, jetstream.ConsumerConfig{Durable: "durable_test_" + s.Channel,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "ENTRA." + s.Channel})
		if err != nil {
			t.Fatal(err)
		}
		w.cons[s.Channel] = c
	}
	return w
}

// rebuild compiles the tenant configuration and builds a new source from it, as the runner does when the
// configuration changed (a new source starts with a full collection).
func (w *world) rebuild() {
	w.t.Helper()
	tenant, err := collector.Compile(tenantName, wire.Entra, w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.tenant = tenant
	w.src, err = entra.New(tenantName, w.cfg, entra.OptionsFor(tenant, entra.Options{HTTPClient: w.ts.Client()}))
	if err != nil {
		w.t.Fatal(err)
	}
}

// collect runs one collection through the pipeline; every message is acknowledged by JetStream when it returns.
func (w *world) collect() collector.Stats {
	w.t.Helper()
	st, err := w.p.Collect(w.ctx, w.tenant, w.src, false)
	if err != nil {
		w.t.Fatalf("collection: %v (%v)", err, st)
	}
	return st
}

// msg is one message as the subscriber received it.
type msg struct {
	channel string
	id      string
	wire.Message
	raw  map[string]any
	data []byte
}

func (m msg) nick() string {
	un, _ := m.User["userName"].(string)
	n, _, _ := strings.Cut(un, "@")
	return n
}

func (m msg) String() string { return m.ActivityOperation + " " + m.nick() }

// drain fetches and acks everything the channels hold now.
func (w *world) drain() map[string][]msg {
	w.t.Helper()
	out := map[string][]msg{}
	for ch, c := range w.cons {
		for {
			batch, err := c.FetchNoWait(100)
			if err != nil {
				w.t.Fatal(err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				var sm wire.Message
				var raw map[string]any
				if err := json.Unmarshal(m.Data(), &sm); err != nil {
					w.t.Fatalf("%s: message is not a SCIM Stream message: %v\n%s", m.Subject(), err, m.Data())
				}
				_ = json.Unmarshal(m.Data(), &raw)
				if m.Headers().Get("Msg-Id") == "" {
					w.t.Errorf("%s: message without Msg-Id (the Node gateway drops it)", m.Subject())
				}
				out[ch] = append(out[ch], msg{channel: ch, id: m.Headers().Get("Msg-Id"), Message: sm, raw: raw, data: m.Data()})
				if err := m.Ack(); err != nil {
					w.t.Fatal(err)
				}
			}
			if err := batch.Error(); err != nil {
				w.t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
	}
	return out
}

// collectUntil collects every 300 ms until done holds for the messages received so far (changes that depend on
// the audit log wait for its next poll, paced at one per 3.3 s) and returns them.
func (w *world) collectUntil(what string, done func(map[string][]msg) bool) map[string][]msg {
	w.t.Helper()
	got := map[string][]msg{}
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.collect()
		for ch, ms := range w.drain() {
			got[ch] = append(got[ch], ms...)
		}
		if done(got) {
			return got
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: not seen within 20 s; messages: %v", what, summary(got))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// summary lists "operation nickname" per channel, sorted; channels without messages are left out.
func summary(got map[string][]msg) map[string][]string {
	out := map[string][]string{}
	for ch, ms := range got {
		for _, m := range ms {
			out[ch] = append(out[ch], m.String())
		}
		sort.Strings(out[ch])
	}
	return out
}

// expect compares the messages per channel with want ("operation nickname", any order).
func expect(t testing.TB, step string, got map[string][]msg, want map[string][]string) {
	t.Helper()
	s := summary(got)
	for ch := range want {
		sort.Strings(want[ch])
	}
	for _, ch := range append(slices.Clone(channels), "AD") {
		if !slices.Equal(s[ch], want[ch]) {
			t.Errorf("%s: %s got %q, want %q", step, ch, s[ch], want[ch])
		}
	}
}

// find returns the one message of nick on channel.
func find(t testing.TB, got map[string][]msg, channel, nick string) msg {
	t.Helper()
	var out []msg
	for _, m := range got[channel] {
		if m.nick() == nick {
			out = append(out, m)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%s: %d messages for %s, want 1 (all: %v)", channel, len(out), nick, summary(got)[channel])
	}
	return out[0]
}

func each(op string, nicks ...string) []string {
	out := make([]string, len(nicks))
	for i, n := range nicks {
		out[i] = op + " " + n
	}
	return out
}

// people are the 19 seeded employees (mail @mycompany.com); the sync and the backup service accounts are members
// without mail; the guest is out of scope unless include_guest_users.
var people = []string{"alice.andersen", "john.smith", "bjorn.odegard", "chloe.martin", "david.kim", "eva.schmidt",
	"fatima.khan", "george.brown", "hanna.berg", "ivan.petrov", "julia.rossi", "karl.nilsen", "lena.fischer",
	"mohammed.ali", "nora.hansen", "oscar.lind", "paula.silva", "quentin.dubois", "rita.moreau"}

// syncUser and svcUser are the nicknames (userName before @) of the two accounts without mail.
const (
	syncUser = "Sync_SERVER01_1a2b3c4d5e6f"
	svcUser  = "svc.backup"
)

func names(ms []msg) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.nick())
	}
	sort.Strings(out)
	return out
}

func roleList(u scim.User) []string {
	var out []string
	rs, _ := u["roles"].([]any)
	for _, r := range rs {
		m, _ := r.(map[string]any)
		out = append(out, fmt.Sprintf("%v/%v/%v", m["type"], m["value"], m["display"]))
	}
	sort.Strings(out)
	return out
}

func groupList(u scim.User) []string {
	var out []string
	gs, _ := u["groups"].([]any)
	for _, g := range gs {
		m, _ := g.(map[string]any)
		out = append(out, fmt.Sprint(m["display"]))
	}
	sort.Strings(out)
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
