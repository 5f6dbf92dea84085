package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// The isolation suite attacks a broker with two tenants as a holder of one credential issued by `scim-stream creds`
// would: other channels' consumers, direct get, _INBOX.> eavesdropping on siblings' pulls, other types and tenants,
// the state buckets, publishing into streams, GW subscriptions outside the queue group, other GW channels, writes
// through a read-only publisher, another base entity, and the client's credential in relayed requests. Every
// attempt that worked is reported; controls prove each mechanism does work for the credential it belongs to.

// attacker is a connection whose asynchronous permission errors are collected.
type attacker struct {
	name string
	nc   *nats.Conn
	mu   sync.Mutex
	errs []error
}

// suite counts attempts and successes.
type suite struct {
	t                   *testing.T
	path                string
	b                   *broker.Broker
	attempts, succeeded int
	mu                  sync.Mutex
}

func (s *suite) attempt(what string, worked bool, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if worked {
		s.succeeded++
		s.t.Errorf("ATTACK SUCCEEDED: %s: %s", what, detail)
	}
}

// creds runs `scim-stream creds` and returns the JWT and seed of the .creds text.
func (s *suite) creds(args ...string) (string, string) {
	s.t.Helper()
	out, _ := mustCLI(s.t, append([]string{"creds", "-config", s.path}, args...)...)
	tok, err := jwt.ParseDecoratedJWT([]byte(out))
	if err != nil {
		s.t.Fatal(err)
	}
	kp, err := jwt.ParseDecoratedNKey([]byte(out))
	if err != nil {
		s.t.Fatal(err)
	}
	seed, _ := kp.Seed()
	return tok, string(seed)
}

func (s *suite) connect(name string, args ...string) *attacker {
	s.t.Helper()
	tok, seed := s.creds(args...)
	a := &attacker{name: name}
	nc, err := nats.Connect(s.b.ClientURL(), nats.UserJWTAndSeed(tok, seed), nats.RootCAs(caFile(s.path)),
		nats.MaxReconnects(0), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			a.mu.Lock()
			a.errs = append(a.errs, err)
			a.mu.Unlock()
		}))
	if err != nil {
		s.t.Fatalf("%s: connect: %v", name, err)
	}
	s.t.Cleanup(nc.Close)
	a.nc = nc
	return a
}

func (a *attacker) hasViolation(subject string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range a.errs {
		if errors.Is(e, nats.ErrPermissionViolation) && strings.Contains(e.Error(), `"`+subject+`"`) {
			return true
		}
	}
	return false
}

// violated waits for a permissions violation naming subject (the broker's answer to a denied subscribe or publish).
func (a *attacker) violated(subject string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		for _, e := range a.errs {
			if errors.Is(e, nats.ErrPermissionViolation) && strings.Contains(e.Error(), subject) {
				a.mu.Unlock()
				return true
			}
		}
		a.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// api sends a JetStream API request; it returns the reply when the request was allowed and answered without error.
func (a *attacker) api(subject string, body any) (map[string]any, bool) {
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	inbox := nats.NewInbox()
	sub, err := a.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, false
	}
	defer sub.Unsubscribe()
	if err := a.nc.PublishRequest(subject, inbox, data); err != nil {
		return nil, false
	}
	a.nc.Flush()
	// Denied: the violation arrives and no reply does. Allowed: the reply arrives.
	var m *nats.Msg
	for deadline := time.Now().Add(5 * time.Second); m == nil; {
		if m, err = sub.NextMsg(20 * time.Millisecond); err == nil {
			break
		}
		m = nil
		if a.hasViolation(subject) || time.Now().After(deadline) {
			return nil, false
		}
	}
	var r map[string]any
	if json.Unmarshal(m.Data, &r) != nil {
		return map[string]any{"raw": string(m.Data)}, true
	}
	if r["error"] != nil {
		return r, false
	}
	return r, true
}

// createDurable is the Node client's consumer create for durable on filter in stream.
func (a *attacker) createDurable(stream, durable, filter string) (map[string]any, bool) {
	return a.api(fmt.Sprintf("$JS.API.CONSUMER.CREATE.%s.%s.%s", stream, durable, filter), map[string]any{
		"stream_name": stream,
		"config": map[string]any{"durable_name": durable, "deliver_policy": "all", "ack_policy": "explicit",
			"filter_subject": filter}})
}

// pull pulls one batch of durable into _INBOX.<random>, as the Node client does, and returns the bodies.
func (a *attacker) pull(stream, durable string) []string {
	inbox := nats.NewInbox()
	sub, err := a.nc.SubscribeSync(inbox)
	if err != nil {
		return nil
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(map[string]any{"batch": 100, "expires": (300 * time.Millisecond).Nanoseconds()})
	if err := a.nc.PublishRequest(fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", stream, durable), inbox, req); err != nil {
		return nil
	}
	var got []string
	for {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil || m.Header.Get("Status") != "" {
			return got
		}
		got = append(got, string(m.Data))
		_ = m.Respond([]byte("+ACK"))
	}
}

// subscribeDenied reports whether a (queue) subscription was refused by the broker.
func (a *attacker) subscribeDenied(subject, queue string) bool {
	var err error
	if queue == "" {
		_, err = a.nc.SubscribeSync(subject)
	} else {
		_, err = a.nc.QueueSubscribeSync(subject, queue)
	}
	if err != nil {
		return true
	}
	a.nc.Flush()
	return a.violated(subject)
}

func TestIsolationSuite(t *testing.T) {
	path, _ := bootstrapped(t, "-entra", "acme,beta", "-hr", "acme,beta")
	var changes []config.Change
	for _, tn := range []string{"acme", "beta"} {
		changes = append(changes,
			config.Change{Path: []string{"entra", tn, "streams"}, Value: []map[string]any{
				{"channel": "APP1", "rules": []map[string]any{{"filter": "(.*)"}}},
				{"channel": "APP2", "rules": []map[string]any{{"filter": "(.*)"}}}}},
			config.Change{Path: []string{"hr", tn, "streams"}, Value: []map[string]any{
				{"channel": "SF", "rules": []map[string]any{{"filter": "(.*)"}}},
				{"channel": "EXEC", "rules": []map[string]any{{"filter": "(.*)"}}}}})
	}
	if err := config.Update(path, changes...); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{t: t, path: path, b: startBroker(t, path, cfg)}
	secret := func(tenant, subject string) string { return "secret-" + tenant + "-" + subject }
	for _, tn := range []string{"acme", "beta"} {
		for _, subj := range []string{"ENTRA.APP1", "ENTRA.APP2", "HR.SF", "HR.EXEC"} {
			typ, _ := wire.TypeOf(subj)
			for i := range 3 {
				publishTo(t, s.b, tn, typ, subj, fmt.Sprintf(`{"userName":"%s-%d"}`, secret(tn, subj), i))
			}
		}
	}
	const durable = "durable_plugin-loki_undefined"
	// The attacker: a Node SCIM Gateway credential of acme ENTRA.APP1.
	app1 := s.connect("acme ENTRA.APP1", "-tenant", "acme", "-type", "entra", "-subject", "ENTRA.APP1", "-plugin", "plugin-loki")
	// Its eavesdropping subscription on _INBOX.> (which the Node client must be allowed).
	sniff, err := app1.nc.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	app1.nc.Flush()

	// Control: the credential reads its own channel, the Node client's way.
	if _, ok := app1.createDurable("acme", durable, "ENTRA.APP1"); !ok {
		t.Fatal("control: the APP1 subscriber cannot create its durable")
	}
	if got := app1.pull("acme", durable); len(got) != 3 || !strings.Contains(got[0], secret("acme", "ENTRA.APP1")) {
		t.Fatalf("control: the APP1 subscriber pulled %q", got)
	}

	// Siblings pull while the attacker listens: another channel of the same type, other types, another tenant.
	victims := []struct {
		name    string
		args    []string
		stream  string
		subject string
	}{
		{"acme ENTRA.APP2", []string{"-tenant", "acme", "-type", "entra", "-subject", "ENTRA.APP2", "-plugin", "plugin-other"}, "acme", "ENTRA.APP2"},
		{"acme HR.SF", []string{"-tenant", "acme", "-type", "hr", "-subject", "HR.SF", "-plugin", "plugin-ldap"}, "acme", "HR.SF"},
		{"acme HR.EXEC", []string{"-tenant", "acme", "-type", "hr", "-subject", "HR.EXEC", "-plugin", "plugin-exec"}, "acme", "HR.EXEC"},
		{"beta ENTRA.APP1", []string{"-tenant", "beta", "-type", "entra", "-subject", "ENTRA.APP1", "-plugin", "plugin-loki"}, "beta", "ENTRA.APP1"},
	}
	sfSub := (*attacker)(nil)
	for _, v := range victims {
		c := s.connect(v.name, v.args...)
		if v.name == "acme HR.SF" {
			sfSub = c
		}
		d := wire.DurableName(v.args[len(v.args)-1], "undefined") // the args end with -plugin <name>
		if _, ok := c.createDurable(v.stream, d, v.subject); !ok {
			t.Fatalf("control: %s cannot create its durable", v.name)
		}
		if got := c.pull(v.stream, d); len(got) != 3 || !strings.Contains(got[0], secret(v.stream, v.subject)) {
			t.Fatalf("control: %s pulled %q", v.name, got)
		}
	}
	// A second APP1 subscriber (same channel, a sibling gateway): what the sniffer does see, as control.
	app1b := s.connect("acme ENTRA.APP1 #2", "-tenant", "acme", "-type", "entra", "-subject", "ENTRA.APP1", "-plugin", "plugin-two")
	d2 := wire.DurableName("plugin-two", "undefined")
	if _, ok := app1b.createDurable("acme", d2, "ENTRA.APP1"); !ok {
		t.Fatal("control: the second APP1 subscriber cannot create its durable")
	}
	app1b.pull("acme", d2)
	var heard, sameChannel int
	for {
		m, err := sniff.NextMsg(300 * time.Millisecond)
		if err != nil {
			break
		}
		heard++
		body := string(m.Data)
		for _, tn := range []string{"acme", "beta"} {
			for _, subj := range []string{"ENTRA.APP1", "ENTRA.APP2", "HR.SF", "HR.EXEC"} {
				if tn == "acme" && subj == "ENTRA.APP1" {
					if strings.Contains(body, secret(tn, subj)) {
						sameChannel++
					}
					continue
				}
				s.attempt("_INBOX.> eavesdropping on "+tn+" "+subj, strings.Contains(body, secret(tn, subj)), body)
			}
		}
	}
	if sameChannel == 0 {
		t.Fatalf("control: the _INBOX.> listener heard %d messages but none of its own channel's pulls", heard)
	}

	// Other channels, types, tenants through the JetStream API.
	for _, c := range []struct{ what, subj string }{
		{"consumer on ENTRA.APP2 with the own durable", "ENTRA.APP2"},
		{"consumer on ENTRA.> with the own durable", "ENTRA.>"},
		{"consumer on HR.SF with the own durable", "HR.SF"},
		{"consumer on HR.> with the own durable", "HR.>"},
		{"consumer on > with the own durable", ">"},
	} {
		_, ok := app1.createDurable("acme", durable, c.subj)
		got := app1.pull("acme", durable)
		leaked := strings.Contains(strings.Join(got, ""), "APP2") || strings.Contains(strings.Join(got, ""), "HR.")
		s.attempt(c.what, ok && leaked, fmt.Sprint(got))
		if ok && !leaked {
			// Allowed inside its own channel account, whose stream holds only ENTRA.APP1: nothing to leak.
			s.attempt(c.what+" (the stream of the own account holds another channel)", len(got) != 0 && !strings.Contains(got[0], secret("acme", "ENTRA.APP1")), fmt.Sprint(got))
		}
	}
	// A credential of APP1 bound to any durable ('*'), creating fresh durables on other channels.
	anyD := s.connect("acme ENTRA.APP1 any durable", "-tenant", "acme", "-type", "entra", "-subject", "ENTRA.APP1", "-durable", "*")
	for i, filter := range []string{"ENTRA.APP2", "ENTRA.>", "ENTRA.*", ">", "HR.SF", "HR.EXEC"} {
		fresh := fmt.Sprintf("fresh_%d", i)
		r, ok := anyD.createDurable("acme", fresh, filter)
		var got []string
		if ok {
			got = anyD.pull("acme", fresh)
		}
		joined := strings.Join(got, "")
		leaked := strings.Contains(joined, "APP2") || strings.Contains(joined, "HR.")
		s.attempt("fresh durable on "+filter+" reads another channel", leaked, fmt.Sprint(r, got))
	}
	for _, c := range []struct{ what, subj string }{
		{"consumer with another durable name", "$JS.API.CONSUMER.CREATE.acme.evil.ENTRA.APP2"},
		{"consumer without filter", "$JS.API.CONSUMER.CREATE.acme." + durable},
		{"legacy durable create", "$JS.API.CONSUMER.DURABLE.CREATE.acme." + durable},
		{"ephemeral consumer", "$JS.API.CONSUMER.CREATE.acme"},
		{"consumer on tenant beta", "$JS.API.CONSUMER.CREATE.beta." + durable + ".ENTRA.APP1"},
		{"consumer info of tenant beta", "$JS.API.CONSUMER.INFO.beta." + durable},
		{"pull from tenant beta", "$JS.API.CONSUMER.MSG.NEXT.beta.durable_plugin-loki_undefined"},
		{"pull from the APP2 subscriber's durable", "$JS.API.CONSUMER.MSG.NEXT.acme.durable_plugin-other_undefined"},
		{"direct get", "$JS.API.DIRECT.GET.acme"},
		{"direct get by subject", "$JS.API.DIRECT.GET.acme.ENTRA.APP2"},
		{"stream message get", "$JS.API.STREAM.MSG.GET.acme"},
		{"stream info", "$JS.API.STREAM.INFO.acme"},
		{"stream list", "$JS.API.STREAM.LIST"},
		{"stream names", "$JS.API.STREAM.NAMES"},
		{"stream create", "$JS.API.STREAM.CREATE.evil"},
		{"stream update", "$JS.API.STREAM.UPDATE.acme"},
		{"stream delete", "$JS.API.STREAM.DELETE.acme"},
		{"stream purge", "$JS.API.STREAM.PURGE.acme"},
		{"consumer delete", "$JS.API.CONSUMER.DELETE.acme.durable_plugin-other_undefined"},
		{"consumer list", "$JS.API.CONSUMER.LIST.acme"},
		{"state bucket info", "$JS.API.STREAM.INFO.KV_" + broker.StateBucket("acme", "ENTRA")},
		{"state bucket direct get", "$JS.API.DIRECT.GET.KV_" + broker.StateBucket("acme", "ENTRA")},
		{"state key", "$KV." + broker.StateBucket("acme", "ENTRA") + ".x"},
		{"publish into the own channel", "ENTRA.APP1"},
		{"publish into another channel", "ENTRA.APP2"},
		{"publish into HR", "HR.SF"},
		{"GW request", "GW.APPX"},
		{"system account request", "$SYS.REQ.CLAIMS.UPDATE"},
	} {
		r, ok := app1.api(c.subj, map[string]any{"stream_name": "acme", "config": map[string]any{"durable_name": "evil", "filter_subject": "ENTRA.APP2"}})
		s.attempt(c.what, ok, fmt.Sprint(r))
	}
	for _, subj := range []string{"ENTRA.>", "HR.>", "GW.>", "$KV.>", ">", "$JS.API.>", "_PUB_INBOX.>", "$JS.ACK.>"} {
		s.attempt("subscribe "+subj, !app1.subscribeDenied(subj, ""), "")
	}

	// HR.SF's credential against HR.EXEC (the first finding).
	d := wire.DurableName("plugin-ldap", "undefined")
	if _, ok := sfSub.createDurable("acme", d, "HR.EXEC"); ok {
		got := sfSub.pull("acme", d)
		s.attempt("HR.SF credential reads HR.EXEC", strings.Contains(strings.Join(got, ""), secret("acme", "HR.EXEC")), fmt.Sprint(got))
	} else {
		s.attempt("HR.SF credential creates a consumer on HR.EXEC", false, "")
	}

	s.gwAttacks()

	t.Logf("%d attempts, %d succeeded", s.attempts, s.succeeded)
	fmt.Printf("isolation suite: %d attempts, %d succeeded\n", s.attempts, s.succeeded)
	if s.attempts < 60 {
		t.Fatalf("only %d attempts ran", s.attempts)
	}
}

// gwAttacks: responder credentials outside their queue group and channel, read-only and base-entity limits, and
// the HTTP client's credential on the wire.
func (s *suite) gwAttacks() {
	t := s.t
	st, err := store.Open(filepath.Join(t.TempDir(), "responder.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The real responder of GW.APPX, serving base entity "undefined" only.
	resp := s.connect("acme gw_sub GW.APPX", "-tenant", "acme", "-type", "gw", "-subject", "GW.APPX")
	r, err := scimserver.NewResponder(resp.nc, "GW.APPX", scimserver.NewServer(st, scimserver.ServerOptions{}),
		scimserver.ResponderOptions{BaseEntity: "undefined"})
	if err != nil {
		t.Fatalf("control: the responder cannot subscribe in its queue group: %v", err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	resp.nc.Flush()

	// A stolen responder credential of the same channel.
	thief := s.connect("acme gw_sub GW.APPX (stolen)", "-tenant", "acme", "-type", "gw", "-subject", "GW.APPX")
	s.attempt("responder subscribes GW.APPX outside the queue group", !thief.subscribeDenied("GW.APPX", ""), "")
	s.attempt("responder subscribes GW.APPX in another queue group", !thief.subscribeDenied("GW.APPX", "mine"), "")
	s.attempt("responder subscribes GW.$RO.APPX outside the queue group", !thief.subscribeDenied("GW.$RO.APPX", ""), "")
	s.attempt("responder subscribes GW.APPY in its queue group", !thief.subscribeDenied("GW.APPY", "GW.APPY"), "")
	s.attempt("responder subscribes GW.APPY with APPX's queue name", !thief.subscribeDenied("GW.APPY", "GW.APPX"), "")
	s.attempt("responder subscribes GW.>", !thief.subscribeDenied("GW.>", "GW.APPX"), "")
	s.attempt("responder subscribes _INBOX.>", !thief.subscribeDenied("_INBOX.>", ""), "")
	s.attempt("responder subscribes >", !thief.subscribeDenied(">", ""), "")
	// Inside the queue group it receives a share of requests: check that none carries the client's credential.
	share := make(chan *nats.Msg, 256)
	thief2 := s.connect("acme gw_sub GW.APPX (stolen, in the group)", "-tenant", "acme", "-type", "gw", "-subject", "GW.APPX")
	thiefSub, err := thief2.nc.QueueSubscribe("GW.APPX", "GW.APPX", func(m *nats.Msg) { share <- m })
	if err != nil {
		t.Fatal(err)
	}
	thief2.nc.Flush()
	pubJWT, pubSeed := s.creds("-tenant", "acme", "-type", "gw", "-role", "gw_pub", "-subject", "GW.APPX")
	// The bundled publisher's connection: replies on natsauth.GWInbox, as the gateway runner connects it.
	pubNC, err := nats.Connect(s.b.ClientURL(), nats.UserJWTAndSeed(pubJWT, pubSeed), nats.RootCAs(caFile(s.path)),
		nats.CustomInboxPrefix(natsauth.GWInbox("GW.APPX")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pubNC.Close)
	const token = "Zm9yLXRoZS10aGllZg-bearer-token-of-the-http-client"
	pub := scimserver.NewPublisher(scimserver.PublisherOptions{
		Server:   scimserver.ServerOptions{Auth: scimserver.Auth{BearerToken: []scimserver.BearerToken{{Token: token}}}},
		Entities: map[string]scimserver.PublisherEntity{"undefined": {Conn: pubNC, Subject: "GW.APPX"}},
		Timeout:  500 * time.Millisecond,
	})
	srv := httptest.NewServer(pub)
	t.Cleanup(srv.Close)
	// A publisher credential of another GW channel listens where replies could pass.
	other := s.connect("acme gw_pub GW.APPY", "-tenant", "acme", "-type", "gw", "-role", "gw_pub", "-subject", "GW.APPY")
	s.attempt("GW.APPY publisher subscribes _GW_INBOX.>", !other.subscribeDenied("_GW_INBOX.>", ""), "")
	s.attempt("GW.APPY publisher subscribes _GW_INBOX.APPX.>", !other.subscribeDenied("_GW_INBOX.APPX.>", ""), "")
	overheard, err := other.nc.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	other.nc.Flush()
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+fmt.Sprintf("/Users?filter=userName+eq+%%22u%d%%22", i), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Cookie", "session="+token)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}
	got := 0
	for drained := false; !drained; {
		select {
		case m := <-share:
			got++
			s.attempt("client credential in a relayed request", strings.Contains(string(m.Data), token) ||
				strings.Contains(strings.ToLower(string(m.Data)), `"authorization"`), string(m.Data))
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	if got == 0 {
		t.Fatal("control: the stolen responder credential in the queue group received no request")
	}
	for {
		m, err := overheard.NextMsg(100 * time.Millisecond)
		if err != nil {
			break
		}
		s.attempt("GW.APPY publisher overhears a reply to GW.APPX's publisher", true, string(m.Data))
	}
	thiefSub.Unsubscribe()
	thief2.nc.Flush()

	// Publisher credentials: other channels, subscriptions, the read-only limit, another base entity.
	roJWT, roSeed := s.creds("-tenant", "acme", "-type", "gw", "-role", "gw_pub", "-subject", "GW.$RO.APPX")
	ro := &attacker{name: "acme gw_pub GW.$RO.APPX"}
	ro.nc, err = nats.Connect(s.b.ClientURL(), nats.UserJWTAndSeed(roJWT, roSeed), nats.RootCAs(caFile(s.path)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			ro.mu.Lock()
			ro.errs = append(ro.errs, err)
			ro.mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ro.nc.Close)
	create := func(nc *nats.Conn, subject, url, userName string) (int, string) {
		body, _ := json.Marshal(map[string]any{"ctx": map[string]any{"request": map[string]any{"method": "POST", "url": url,
			"headers": map[string]any{"content-type": "application/scim+json"},
			"body":    map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName}},
			"routeObj": map[string]any{"method": "POST", "handle": "users"}}, "baseEntity": "undefined"})
		m := nats.NewMsg(subject)
		m.Header.Set("Msg-Id", userName)
		m.Data = body
		rep, err := nc.RequestMsg(m, 2*time.Second)
		if err != nil {
			return 0, err.Error()
		}
		var out struct{ Status int }
		_ = json.Unmarshal(rep.Data, &out)
		if out.Status == 0 {
			out.Status = 200
		}
		return out.Status, string(rep.Data)
	}
	exists := func(name string) bool {
		_, err := st.FindUser(context.Background(), name)
		return err == nil
	}
	if status, body := create(pubNC, "GW.APPX", "/Users", "control-user"); status != http.StatusCreated || !exists("control-user") {
		t.Fatalf("control: a full publisher could not create a user: %d %s", status, body)
	}
	status, body := create(ro.nc, "GW.$RO.APPX", "/Users", "ro-create")
	s.attempt("create through the read-only subject", status < 300 || exists("ro-create"), body)
	for _, subj := range []string{"GW.APPX", "GW.APPY", "GW.$RO.APPY", "GW.>"} {
		status, body := create(ro.nc, subj, "/Users", "ro-"+subj)
		s.attempt("read-only publisher requests "+subj, status != 0 || exists("ro-"+subj), body)
	}
	status, body = create(pubNC, "GW.APPY", "/Users", "pub-appy")
	s.attempt("GW.APPX publisher requests GW.APPY", status != 0, body)
	status, body = create(pubNC, "GW.APPX", "/other/Users", "other-entity")
	s.attempt("GW.APPX publisher reaches another base entity", status < 300 || exists("other-entity"), body)
	s.attempt("GW publisher subscribes GW.APPX", !(&attacker{nc: pubNC}).subscribeDeniedQuiet("GW.APPX"), "")

	// Tenant beta's full GW publisher has no way into acme's GW account.
	bj, bs := s.creds("-tenant", "beta", "-type", "gw", "-role", "gw_pub", "-subject", "GW.APPX")
	bnc, err := nats.Connect(s.b.ClientURL(), nats.UserJWTAndSeed(bj, bs), nats.RootCAs(caFile(s.path)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bnc.Close)
	status, body = create(bnc, "GW.APPX", "/Users", "beta-user")
	s.attempt("tenant beta's publisher reaches acme's responder", status != 0 || exists("beta-user"), body)
}

// subscribeDeniedQuiet: a subscription of a connection without an error collector; denied when no message arrives
// although one is published to it by the responder path (the subscription never got registered).
func (a *attacker) subscribeDeniedQuiet(subject string) bool {
	errc := make(chan error, 4)
	a.nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errc <- err })
	if _, err := a.nc.SubscribeSync(subject); err != nil {
		return true
	}
	a.nc.Flush()
	select {
	case err := <-errc:
		return errors.Is(err, nats.ErrPermissionViolation)
	case <-time.After(5 * time.Second):
		return false
	}
}
