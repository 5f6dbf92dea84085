package broker_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// nodeClient does on the wire what the Node SCIM Gateway's subscriber does (package wire): $JS.API.INFO, consumer info,
// consumer create with the filter in the subject, pulls of 100 into _INBOX.<random>, +ACK.
type nodeClient struct {
	*client
	stream, durable, filter string
}

func (n *nodeClient) request(t *testing.T, subj string, body any) map[string]any {
	t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	m, err := n.Request(subj, data, 2*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subj, err)
	}
	var r map[string]any
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("reply of %s: %v: %s", subj, err, m.Data)
	}
	return r
}

// ensureDurable looks the durable up and creates it when missing, as the Node client does.
func (n *nodeClient) ensureDurable(t *testing.T) {
	t.Helper()
	n.request(t, "$JS.API.INFO", nil)
	info := n.request(t, fmt.Sprintf("$JS.API.CONSUMER.INFO.%s.%s", n.stream, n.durable), nil)
	if info["error"] == nil {
		return
	}
	r := n.request(t, fmt.Sprintf("$JS.API.CONSUMER.CREATE.%s.%s.%s", n.stream, n.durable, n.filter), map[string]any{
		"stream_name": n.stream,
		"config": map[string]any{"durable_name": n.durable, "deliver_policy": "all", "ack_policy": "explicit",
			"filter_subject": n.filter},
	})
	if r["error"] != nil {
		t.Fatalf("create durable %s: %v", n.durable, r["error"])
	}
}

// pull fetches one batch of up to 100 and acks each message with +ACK; it returns the bodies.
func (n *nodeClient) pull(t *testing.T) []string {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := n.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	req, _ := json.Marshal(map[string]any{"batch": 100, "expires": (500 * time.Millisecond).Nanoseconds()})
	if err := n.PublishRequest(fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", n.stream, n.durable), inbox, req); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("pull %s: %v", n.durable, err)
		}
		if m.Header.Get("Status") != "" { // 404/408: the batch is over
			return got
		}
		// The Node client acks and drops a message without Msg-Id: every message must carry it.
		if m.Header.Get("Msg-Id") == "" {
			t.Fatalf("message on %s without a Msg-Id header: %s", m.Subject, m.Data)
		}
		got = append(got, string(m.Data))
		if err := m.Respond([]byte("+ACK")); err != nil {
			t.Fatal(err)
		}
	}
}

// fullUser signs a user with the account's own key: no permission limits at all. It shows what the account
// boundary alone hides (tests only; the product never issues such users).
func fullUser(t *testing.T, acc *config.AccountKeys) (string, string) {
	t.Helper()
	akp, err := nkeys.FromSeed([]byte(acc.Secret.Reveal()))
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	tok, err := uc.Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	return tok, string(useed)
}

func userPub(t *testing.T, tok string) string {
	t.Helper()
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return uc.Subject
}

func newNode(t *testing.T, env *brokertest.Env, tenant string, typ wire.Type, filter string) *nodeClient {
	t.Helper()
	d := wire.DurableName("plugin-loki", strings.ToLower(filter))
	jwt, seed := env.SubscriberCreds(t, tenant, typ, d)
	return &nodeClient{client: connect(t, env, jwt, seed), stream: tenant, durable: d, filter: filter}
}

func TestIsolation(t *testing.T) {
	env, logs := startLogged(t, "acme", "beta")
	entra := env.JetStream(t, "acme", wire.Entra)
	hr := env.JetStream(t, "acme", wire.HR)
	publish(t, entra, "ENTRA.APP1", "e1", `{"secret":"entra-one"}`)
	publish(t, hr, "HR.SF", "h1", `{"secret":"hr-one"}`)

	// The Node-like ENTRA subscriber gets its message.
	durable := wire.DurableName("plugin-loki", "undefined")
	ejwt, eseed := env.SubscriberCreds(t, "acme", wire.Entra, durable)
	e := &nodeClient{client: connect(t, env, ejwt, eseed), stream: "acme", durable: durable, filter: "ENTRA.APP1"}
	e.ensureDurable(t)
	if got := e.pull(t); len(got) != 1 || !strings.Contains(got[0], "entra-one") {
		t.Fatalf("ENTRA subscriber got %q", got)
	}
	// Its +ACK took: the durable's ack floor moves past the message (+ACK is fire-and-forget, so poll).
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info := e.request(t, "$JS.API.CONSUMER.INFO.acme."+durable, nil)
		floor, _ := info["ack_floor"].(map[string]any)
		if floor != nil && floor["stream_seq"] == float64(1) && info["num_ack_pending"] == float64(0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the +ACK was not applied: %v", info)
		}
	}

	// The Node client re-filters its durable in place when its subject changes.
	r := e.request(t, "$JS.API.CONSUMER.CREATE.acme."+durable+".ENTRA.APP3", map[string]any{"stream_name": "acme",
		"config": map[string]any{"durable_name": durable, "deliver_policy": "all", "ack_policy": "explicit", "filter_subject": "ENTRA.APP3"}})
	if r["error"] != nil {
		t.Fatalf("re-filter the durable: %v", r["error"])
	}

	// The same user, listening on _INBOX.> (which it must be allowed), while others pull.
	sniff, err := e.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	h := newNode(t, env, "acme", wire.HR, "HR.SF")
	h.ensureDurable(t)
	if got := h.pull(t); len(got) != 1 || !strings.Contains(got[0], "hr-one") {
		t.Fatalf("HR subscriber got %q", got)
	}
	// Control: another subscriber of the same ENTRA account pulling IS visible (package wire: one account per type).
	publish(t, entra, "ENTRA.APP2", "e2", `{"secret":"entra-two"}`)
	e2 := newNode(t, env, "acme", wire.Entra, "ENTRA.APP2")
	e2.ensureDurable(t)
	if got := e2.pull(t); len(got) != 1 {
		t.Fatalf("second ENTRA subscriber got %q", got)
	}
	var seen []string
	for {
		m, err := sniff.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		seen = append(seen, string(m.Data))
	}
	joined := strings.Join(seen, "\n")
	if strings.Contains(joined, "hr-one") {
		t.Fatal("an ENTRA user read an HR message of its tenant through _INBOX.>")
	}
	if !strings.Contains(joined, "entra-two") {
		t.Fatalf("control failed: the _INBOX.> listener did not see its own account's pull replies: %q", seen)
	}

	// Denials, each named in the broker log with the user's public key.
	epub := userPub(t, ejwt)
	for _, subj := range []string{
		"$JS.API.CONSUMER.CREATE.acme." + durable + ".HR.SF",    // another type's subjects
		"$JS.API.CONSUMER.CREATE.acme.other_durable.ENTRA.APP1", // another durable
		"$JS.API.CONSUMER.CREATE.acme." + durable,               // no filter in the subject
		"$JS.API.CONSUMER.DURABLE.CREATE.acme." + durable,       // legacy API
		"ENTRA.APP1",                                   // publish into the stream
		"$JS.API.STREAM.DELETE.acme",                   // delete the stream
		"$JS.API.STREAM.CREATE.evil",                   // create a stream
		"$JS.API.STREAM.PURGE.acme",                    // purge
		"$JS.API.CONSUMER.DELETE.acme." + durable,      // delete anything
		"$JS.API.STREAM.INFO.KV_" + "state_acme_ENTRA", // state bucket
		"$KV.state_acme_ENTRA.user.x",                  // state bucket
		"$JS.API.CONSUMER.INFO.beta." + durable,        // other tenant
		"GW.APP1",                                      // gateway requests
	} {
		e.deniedPub(t, subj, "{}")
		logs.waitLog(t, "Publish Violation", epub, subj)
	}
	if _, err := e.SubscribeSync("$KV.>"); err != nil {
		t.Fatal(err)
	}
	e.denied(t, "$KV.>")
	logs.waitLog(t, "Subscription Violation", epub, "$KV.>")
	if _, err := e.SubscribeSync("GW.>"); err != nil {
		t.Fatal(err)
	}
	e.denied(t, "GW.>")
	logs.waitLog(t, "Subscription Violation", epub, "GW.>")

	// A tenant beta user with every permission its account allows sees no stream acme, no state bucket.
	bjwt, bseed := fullUser(t, env.Config.Nats.Server.Auth.Account["beta"].Entra)
	bjs, err := jetstream.New(connect(t, env, bjwt, bseed).Conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bjs.Stream(ctxT(t), "acme"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("tenant beta looked up stream acme: %v", err)
	}
	if _, err := bjs.Stream(ctxT(t), "beta"); err != nil {
		t.Fatalf("tenant beta's own stream: %v", err)
	}
	// Even acme's own ENTRA account, without permission limits, has no state bucket in it.
	env.StateKV(t, "acme", wire.Entra)
	ajwt, aseed := fullUser(t, env.Config.Nats.Server.Auth.Account["acme"].Entra)
	ajs, err := jetstream.New(connect(t, env, ajwt, aseed).Conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ajs.KeyValue(ctxT(t), "state_acme_ENTRA"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("state bucket from the ENTRA account: %v", err)
	}
	names := ajs.StreamNames(ctxT(t))
	var streams []string
	for n := range names.Name() {
		streams = append(streams, n)
	}
	if strings.Join(streams, ",") != "acme" {
		t.Fatalf("acme/ENTRA account streams %v, want only acme", streams)
	}
}
