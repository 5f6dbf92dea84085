package scimserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/wire"
)

const (
	gwTenant  = "relayco"
	gwChannel = "APPX"
	gwSubject = "GW." + gwChannel
)

// relayWorld is a real broker (TLS, JWT, the tenant's GW account) with publisher and responder users.
type relayWorld struct {
	t   *testing.T
	env *brokertest.Env
}

func newRelayWorld(t *testing.T) *relayWorld {
	return &relayWorld{t: t, env: brokertest.Start(t, gwTenant)}
}

// responderConn connects a GW responder user bound to the channel.
func (w *relayWorld) responderConn(opts ...nats.Option) *nats.Conn {
	jwt, seed := w.env.SubscriberCreds(w.t, gwTenant, wire.GW, gwSubject)
	return w.env.Connect(w.t, jwt, seed, opts...)
}

func (w *relayWorld) publisherConn() *nats.Conn {
	jwt, seed := w.env.GatewayPublisherCreds(w.t, gwTenant, gwSubject)
	return w.env.Connect(w.t, jwt, seed)
}

// responder starts a responder gateway: its own store, its own server, its own connection.
func (w *relayWorld) responder(name string) (*scimserver.Responder, *store.Store, *nats.Conn) {
	st := scimStore(w.t, name)
	nc := w.responderConn()
	r, err := scimserver.NewResponder(nc, gwSubject, scimserver.NewServer(st, scimserver.ServerOptions{}), scimserver.ResponderOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { r.Stop(context.Background()) })
	return r, st, nc
}

func (w *relayWorld) publisher(opts scimserver.ServerOptions, timeout time.Duration) *scimClient {
	return w.publisherWith(scimserver.PublisherOptions{Server: opts, Timeout: timeout, NoResponderWait: 200 * time.Millisecond})
}

func (w *relayWorld) publisherWith(opts scimserver.PublisherOptions) *scimClient {
	opts.Entities = map[string]scimserver.PublisherEntity{"undefined": {Conn: w.publisherConn(), Subject: gwSubject}}
	pub := scimserver.NewPublisher(opts)
	srv := httptest.NewServer(pub)
	w.t.Cleanup(srv.Close)
	return &scimClient{t: w.t, base: srv.URL}
}

// TestRelayedConformance runs the server conformance tests through publisher -> NATS -> responder.
func TestRelayedConformance(t *testing.T) {
	for name, f := range map[string]func(*testing.T, serverFactory){
		"UserLifecycle": userLifecycle, "GroupsAndMembers": groupsAndMembers, "ListQueries": listQueries,
		"BadInput": badInput, "Discovery": discovery, "Bulk": bulk,
	} {
		t.Run(name, func(t *testing.T) {
			f(t, func(t *testing.T, opts scimserver.ServerOptions) (*scimClient, *store.Store) {
				w := newRelayWorld(t)
				_, st, _ := w.responder("responder")
				return w.publisher(opts, 10*time.Second), st
			})
		})
	}
}

func TestRelayNoResponder(t *testing.T) {
	w := newRelayWorld(t)
	c := w.publisher(scimserver.ServerOptions{}, 5*time.Second)
	r := c.do("GET", "/Users", "")
	mustStatus(t, r, 503, "no responder")
	if !strings.Contains(r.str("detail"), gwSubject) || r.str("status") != "503" {
		t.Fatalf("no responder: %s", r.raw)
	}
	if ping := c.do("GET", "/ping", ""); ping.status != 200 {
		t.Fatalf("the publisher answers /ping itself: %d", ping.status)
	}
}

// TestRelayWaitsForARestartingResponder: a request sent while no responder is subscribed is re-sent until one
// is (it was delivered to no one, so this cannot execute it twice).
func TestRelayWaitsForARestartingResponder(t *testing.T) {
	w := newRelayWorld(t)
	c := w.publisherWith(scimserver.PublisherOptions{Timeout: 10 * time.Second, NoResponderWait: 5 * time.Second})
	var st *store.Store
	started := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, st, _ = w.responder("late")
		close(started)
	}()
	r := c.do("POST", "/Users", `{"userName":"patient"}`)
	<-started
	mustStatus(t, r, 201, "create while the responder starts")
	if users, _ := st.ListUsers(t.Context(), ""); len(users) != 1 {
		t.Fatalf("executed %d times", len(users))
	}
}

func TestRelayTimeout(t *testing.T) {
	w := newRelayWorld(t)
	// A responder that takes requests and never answers (hung or killed after receiving).
	nc := w.responderConn()
	if _, err := nc.QueueSubscribe(gwSubject, gwSubject, func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	c := w.publisher(scimserver.ServerOptions{}, 300*time.Millisecond)
	r := c.do("POST", "/Users", `{"userName":"x"}`)
	mustStatus(t, r, 504, "no reply")
	if !strings.Contains(r.str("detail"), "may or may not") {
		t.Fatalf("timeout: %s", r.raw)
	}
}

func TestRelayPublisherAuth(t *testing.T) {
	w := newRelayWorld(t)
	_, st, _ := w.responder("responder")
	c := w.publisher(scimserver.ServerOptions{Auth: scimserver.Auth{
		Basic: []scimserver.BasicAuth{{Username: "ro", Password: "pw", Access: scimserver.Access{ReadOnly: true}}},
	}}, 5*time.Second)
	mustStatus(t, c.do("GET", "/Users", ""), 401, "no credentials")
	c.auth = func(r *http.Request) { r.SetBasicAuth("ro", "pw") }
	mustStatus(t, c.do("GET", "/Users", ""), 200, "read-only GET")
	mustStatus(t, c.do("POST", "/Users", `{"userName":"x"}`), 403, "read-only POST")
	if users, _ := st.ListUsers(t.Context(), ""); len(users) != 0 {
		t.Fatal("a refused request reached the responder")
	}
}

// TestRelayWireShapes checks our publisher's payload and our responder's reply against the Node gateway's shapes.
func TestRelayWireShapes(t *testing.T) {
	w := newRelayWorld(t)
	seen := make(chan *nats.Msg, 1)
	nc := w.responderConn()
	// A Node-style responder: status omitted (200), body as a JSON string.
	nodeSub, err := nc.QueueSubscribe(gwSubject, gwSubject, func(m *nats.Msg) {
		seen <- m
		m.Respond([]byte(`{"headers":{"Content-Type":"application/scim+json"},"body":"{\"Resources\":[],\"totalResults\":0}"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	c := w.publisher(scimserver.ServerOptions{Auth: scimserver.Auth{BearerToken: []scimserver.BearerToken{{Token: "s3cret-token"}}}}, 5*time.Second)
	c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") }
	r := c.do("POST", "/Users?attributes=userName", `{"userName":"bjensen"}`)
	if r.status != 200 || r.body["totalResults"] != 0.0 {
		t.Fatalf("Node-style reply: %d %s", r.status, r.raw)
	}
	m := <-seen
	if m.Header.Get("Msg-Id") == "" {
		t.Fatal("request without Msg-Id")
	}
	if strings.Contains(string(m.Data), "s3cret-token") {
		t.Fatal("the bearer token travels in clear")
	}
	var p struct {
		Ctx struct {
			Request struct {
				Method, URL string
				Headers     map[string]any
				Body        map[string]any
			}
			RouteObj struct{ Method, BaseEntity, Handle string }
			Query    map[string]string
			Path     string
		}
		BaseEntity string
	}
	if err := json.Unmarshal(m.Data, &p); err != nil {
		t.Fatal(err)
	}
	if p.Ctx.Request.Method != "POST" || p.Ctx.Request.URL != "/Users?attributes=userName" || p.Ctx.Request.Body["userName"] != "bjensen" ||
		p.Ctx.RouteObj.Handle != "users" || p.Ctx.RouteObj.BaseEntity != "undefined" || p.BaseEntity != "undefined" ||
		p.Ctx.Query["attributes"] != "userName" || p.Ctx.Path != "/Users" || p.Ctx.Request.Headers["authorization"] != nil {
		t.Fatalf("payload shape: %s", m.Data)
	}

	// Our responder, given a Node publisher's request (body as an object, extra fields), replies in Node's shape.
	nodeSub.Unsubscribe()
	nc.Flush()
	w.responder("responder2")
	pnc := w.publisherConn()
	req := nats.NewMsg(gwSubject)
	req.Header.Set("Msg-Id", "node-1")
	req.Data = []byte(`{"ctx":{"request":{"method":"POST","url":"/Users","headers":{"content-type":"application/scim+json","host":"gw.example.com","authorization":"c2VhbGVk"},
		"body":{"userName":"fromnode","active":true}},"routeObj":{"method":"POST","baseEntity":"undefined","handle":"users"},"query":{},"path":"/Users","originalUrl":"/Users"},"baseEntity":"undefined"}`)
	resp, err := pnc.RequestMsg(req, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Status  int
		Headers map[string]string
		Body    string
	}
	if err := json.Unmarshal(resp.Data, &rep); err != nil {
		t.Fatalf("reply is not JSON: %s", resp.Data)
	}
	if rep.Status != 201 || !strings.Contains(rep.Body, `"userName":"fromnode"`) || !strings.HasPrefix(rep.Headers["Location"], "http://gw.example.com/Users/") {
		t.Fatalf("reply: %s", resp.Data)
	}
}

func TestResponderMalformedRequests(t *testing.T) {
	w := newRelayWorld(t)
	w.responder("responder")
	pnc := w.publisherConn()
	for _, bad := range []string{
		`not json`,
		`[]`,
		`{"ctx":{"request":{"method":"TRACE","url":"/Users"}}}`,
		`{"ctx":{"request":{"method":"GET","url":"http://evil.example.com/Users"}}}`,
		`{"ctx":{"request":{"method":"GET","url":"Users"}}}`,
		`{"ctx":{"request":{"method":"GET"}}}`,
		`{"ctx":{"request":{"method":"POST","url":"/Users","body":{"userName":1}}}}`,
	} {
		resp, err := pnc.Request(gwSubject, []byte(bad), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: no reply: %v", bad, err)
		}
		var rep struct {
			Status int
			Error  string
			Body   string
		}
		if err := json.Unmarshal(resp.Data, &rep); err != nil {
			t.Fatalf("%s: reply is not JSON: %s", bad, resp.Data)
		}
		if rep.Error == "" && rep.Status < 400 {
			t.Fatalf("%s: accepted: %s", bad, resp.Data)
		}
	}
	// Still serving afterwards.
	resp, err := pnc.Request(gwSubject, []byte(`{"ctx":{"request":{"method":"GET","url":"/ping"}}}`), 5*time.Second)
	if err != nil || !strings.Contains(string(resp.Data), `"body":"hello"`) {
		t.Fatalf("after malformed requests: %v %s", err, resp.Data)
	}
}

// createMany sends n creates through c with the given concurrency and returns the status of each userName.
func createMany(t *testing.T, c *scimClient, n, workers int, progress func(done int)) map[string]int {
	var mu sync.Mutex
	statuses := map[string]int{}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				name := fmt.Sprintf("user%04d", i)
				r := c.do("POST", "/Users", `{"userName":"`+name+`","active":true}`)
				mu.Lock()
				statuses[name] = r.status
				mu.Unlock()
				if progress != nil {
					progress(int(done.Add(1)))
				}
			}
		}()
	}
	wg.Wait()
	return statuses
}

// executedIn counts, for each userName, in how many stores it exists.
func executedIn(t *testing.T, stores ...*store.Store) (map[string]int, []int) {
	seen := map[string]int{}
	var per []int
	for _, st := range stores {
		users, err := st.ListUsers(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		per = append(per, len(users))
		for _, u := range users {
			seen[u["userName"].(string)]++
		}
	}
	return seen, per
}

func TestRelayExactlyOnceAcrossTwoResponders(t *testing.T) {
	w := newRelayWorld(t)
	_, a, _ := w.responder("a")
	_, b, _ := w.responder("b")
	c := w.publisher(scimserver.ServerOptions{}, 10*time.Second)
	statuses := createMany(t, c, 1000, 16, nil)
	seen, per := executedIn(t, a, b)
	for name, st := range statuses {
		if st != 201 {
			t.Errorf("%s: status %d", name, st)
		}
		if seen[name] != 1 {
			t.Errorf("%s executed %d times", name, seen[name])
		}
	}
	if len(seen) != 1000 || per[0]+per[1] != 1000 {
		t.Fatalf("executed %d distinct, %v per responder", len(seen), per)
	}
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("load not spread: %v", per)
	}
	t.Logf("responders executed %v", per)
}

func TestRelayResponderKilledMidRun(t *testing.T) {
	w := newRelayWorld(t)
	_, a, aConn := w.responder("a")
	_, b, _ := w.responder("b")
	c := w.publisher(scimserver.ServerOptions{}, 2*time.Second)
	var once sync.Once
	statuses := createMany(t, c, 1000, 16, func(done int) {
		if done == 300 {
			once.Do(aConn.Close) // abrupt: no drain, in-flight replies are lost
		}
	})
	seen, per := executedIn(t, a, b)
	var ok, timedOut int
	for name, st := range statuses {
		switch st {
		case 201:
			ok++
			if seen[name] != 1 {
				t.Errorf("%s: 201 but executed %d times", name, seen[name])
			}
		case 504:
			timedOut++
			if seen[name] > 1 {
				t.Errorf("%s executed %d times", name, seen[name])
			}
		default:
			t.Errorf("%s: status %d: failures must surface as timeouts", name, st)
		}
	}
	if ok+timedOut != 1000 {
		t.Fatalf("%d answered, want 1000", ok+timedOut)
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s executed %d times", name, n)
		}
	}
	if per[1] < 600 {
		t.Fatalf("the surviving responder executed only %d", per[1])
	}
	t.Logf("201: %d, 504: %d, executed per responder: %v", ok, timedOut, per)
}

func TestRelayResponderDrainedMidRun(t *testing.T) {
	w := newRelayWorld(t)
	ra, a, _ := w.responder("a")
	_, b, _ := w.responder("b")
	c := w.publisher(scimserver.ServerOptions{}, 10*time.Second)
	stopped := make(chan error, 1)
	var once sync.Once
	statuses := createMany(t, c, 1000, 16, func(done int) {
		if done == 300 {
			once.Do(func() { go func() { stopped <- ra.Stop(context.Background()) }() })
		}
	})
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	seen, per := executedIn(t, a, b)
	for name, st := range statuses {
		if st != 201 || seen[name] != 1 {
			t.Errorf("%s: status %d, executed %d times", name, st, seen[name])
		}
	}
	if per[0]+per[1] != 1000 {
		t.Fatalf("executed %v", per)
	}
	t.Logf("executed per responder: %v", per)
}

// TestRelayBodyOverTheBrokersMaxPayload: a body within the HTTP limit whose relayed request exceeds the broker's
// max_payload is refused with 413 and a reason, not reported as a retryable 503.
func TestRelayBodyOverTheBrokersMaxPayload(t *testing.T) {
	w := newRelayWorld(t)
	_, st, _ := w.responder("responder")
	c := w.publisher(scimserver.ServerOptions{}, 5*time.Second) // the default body limit, 1 MiB
	big := `{"userName":"big","title":"` + strings.Repeat("x", scimserver.DefaultMaxBodyBytes-100) + `"}`
	r := c.do("POST", "/Users", big)
	mustStatus(t, r, 413, "relayed request over max_payload")
	if !strings.Contains(r.str("detail"), "max_payload") {
		t.Fatalf("413 without the reason: %s", r.raw)
	}
	if users, _ := st.ListUsers(t.Context(), ""); len(users) != 0 {
		t.Fatal("the oversized request was executed")
	}
	mustStatus(t, c.do("POST", "/Users", `{"userName":"small"}`), 201, "a normal request afterwards")
}

// TestRelayReplyOverTheBrokersMaxPayload: a reply the broker would refuse (above max_payload) is never left
// unsent (the client would wait for the timeout and get 504 for an executed request): a read gets 400 tooMany,
// a change its status without the body.
func TestRelayReplyOverTheBrokersMaxPayload(t *testing.T) {
	w := newRelayWorld(t)
	_, st, _ := w.responder("responder")
	c := w.publisher(scimserver.ServerOptions{}, 5*time.Second)
	ctx := t.Context()
	for i := range 40 {
		if _, err := st.CreateUser(ctx, map[string]any{"userName": fmt.Sprintf("wide%02d", i), "title": strings.Repeat("t", 30000)}); err != nil {
			t.Fatal(err)
		}
	}
	all := c.do("GET", "/Users", "")
	mustStatus(t, all, 400, "a list above max_payload")
	if all.str("scimType") != "tooMany" || !strings.Contains(all.str("detail"), "startIndex") {
		t.Fatalf("list above max_payload: %s", all.raw)
	}
	page := c.do("GET", "/Users?count=5", "")
	mustStatus(t, page, 200, "a page of the same list")
	if len(page.resources()) != 5 {
		t.Fatalf("page: %d resources", len(page.resources()))
	}
	huge, err := st.CreateUser(ctx, map[string]any{"userName": "huge", "title": strings.Repeat("h", 1<<20)})
	if err != nil {
		t.Fatal(err)
	}
	r := c.do("PATCH", "/Users/"+huge["id"].(string), `{"Operations":[{"op":"add","path":"nickName","value":"Big"}]}`)
	mustStatus(t, r, 204, "a change whose reply is above max_payload")
	if r.header.Get("ETag") == "" {
		t.Fatal("the ETag of the change was dropped with the body")
	}
	if u, _ := st.FindUser(ctx, "huge"); u["nickName"] != "Big" {
		t.Fatalf("the PATCH was not executed: nickName %v", u["nickName"])
	}
}
