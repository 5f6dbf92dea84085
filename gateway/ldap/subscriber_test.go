package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// TestSubscriberProvisionsSlapd runs the bundled gateway's subscriber with the ldap endpoint against a real
// broker and slapd: HR joiners become entries with the mapped attributes and group memberships, a leaver is
// disabled (ppolicy lock) and a deleted user removed; with slapd stopped while messages arrive, the subscriber
// retries and everything converges after the restart.
// events is what a running gateway reported.
type events struct {
	mu               sync.Mutex
	retries, handled int
	created          []gateway.Event
}

func (ev *events) get() (retries, handled int) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.retries, ev.handled
}

// runGateway runs the bundled gateway subscribed to subject (a collector type's channel) of tenant with the
// ldap endpoint configured by endpointYAML, until the test ends.
func runGateway(t *testing.T, env *brokertest.Env, tenant string, typ wire.Type, subject, endpointYAML string) *events {
	t.Helper()
	jwt, seed := env.SubscriberCreds(t, tenant, typ, wire.DurableName("gw", "sub"))
	cfg := gateway.SubscriberConfig("gw", t.TempDir(), []string{env.URL()}, env.CAFile(), map[string]gateway.Entity{
		"sub": {NATS: gateway.NATS{Tenant: tenant, Subject: subject, JWT: jwt, Secret: config.Secret(seed)}},
	})
	cfg.Scimgateway.Scim.UsePutSoftSync = true
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(endpointYAML), &n); err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = gateway.EndpointConfig{Type: Type, Node: n.Content[0]}
	g, err := gateway.Open(context.Background(), cfg, gateway.Options{Endpoints: endpoint.Factories{Type: OpenConfig}})
	if err != nil {
		t.Fatal(err)
	}
	g.RetryMin, g.RetryMax = 50*time.Millisecond, 300*time.Millisecond
	ev := &events{}
	g.OnEvent = func(e gateway.Event) {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		switch e.Action {
		case gateway.ActionRetrying:
			ev.retries++
		case gateway.ActionTerminated:
			t.Errorf("message %s terminated: %v", e.MsgID, e.Err)
		case gateway.ActionCreated:
			ev.created = append(ev.created, e)
			ev.handled++
		default:
			ev.handled++
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; g.Close() })
	return ev
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// count counts the entries matching filter, read as the root DN.
func (s *slapd) count(t *testing.T, filter string) int {
	var n int
	s.admin(t, func(c *ldap.Conn) {
		res, err := c.SearchWithPaging(ldap.NewSearchRequest(suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			filter, []string{"dn"}, nil), 100)
		if err != nil {
			t.Fatal(err)
		}
		n = len(res.Entries)
	})
	return n
}

// TestSubscriberProvisionsSlapd runs the bundled gateway's subscriber with the ldap endpoint against a real
// broker and slapd: HR joiners become entries with the mapped attributes and group memberships, a leaver is
// disabled (ppolicy lock) and a deleted user removed; with slapd stopped while messages arrive, the subscriber
// retries and everything converges after the restart.
func TestSubscriberProvisionsSlapd(t *testing.T) {
	s := startSlapd(t)
	env := brokertest.Start(t, "acme")
	const subject = "HR.SF"
	ev := runGateway(t, env, "acme", wire.HR, subject, serviceConfig(s, "")+"timeout: 2s\n")
	count := func(f string) int { return s.count(t, f) }
	waitFor := func(what string, cond func() bool) { t.Helper(); waitFor(t, what, cond) }

	js := env.JetStream(t, "acme", wire.HR)
	seq := 0
	publish := func(op string, u map[string]any) {
		t.Helper()
		seq++
		data, _ := json.Marshal(wire.Message{ActivityOperation: op, User: u, Operations: []scim.Operation{}})
		m := nats.NewMsg(subject)
		id := fmt.Sprintf("msg-%d", seq)
		m.Header.Set("Msg-Id", id)
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Data = data
		pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer pcancel()
		if _, err := js.PublishMsg(pctx, m); err != nil {
			t.Fatal(err)
		}
	}
	person := func(local, title string, groups ...string) map[string]any {
		var gs []any
		for _, g := range groups {
			gs = append(gs, map[string]any{"value": g, "display": g})
		}
		return map[string]any{
			"userName": local + "@acme.com", "active": true, "title": title, "displayName": "Person " + local,
			"name":   map[string]any{"givenName": "Person", "familyName": local},
			"emails": []any{map[string]any{"type": "work", "value": local + "@acme.com", "primary": true}},
			"groups": gs,
		}
	}

	publish(wire.CreateUser, person("joiner", "Engineer", "Staff", "Engineering"))
	publish(wire.CreateUser, person("leaver", "Clerk", "Staff"))
	publish(wire.CreateUser, person("gone", "Temp", "Staff"))
	waitFor("the joiners", func() bool { return count("(&(objectClass=inetOrgPerson)(uid=*@acme.com))") == 3 })
	en := s.entry(t, "(uid=joiner@acme.com)", "*")
	for attr, want := range map[string]string{"title": "Engineer", "mail": "joiner@acme.com", "sn": "joiner", "displayName": "Person joiner"} {
		if got := en.GetAttributeValue(attr); got != want {
			t.Errorf("joiner %s = %q, want %q", attr, got, want)
		}
	}
	waitFor("the memberships", func() bool {
		return count("(&(cn=Staff)(member="+ldap.EscapeFilter(en.DN)+"))") == 1 && count("(&(cn=Engineering)(member="+ldap.EscapeFilter(en.DN)+"))") == 1
	})

	leaver := person("leaver", "Clerk", "Staff")
	leaver["active"] = false
	publish(wire.ModifyUser, leaver)
	publish(wire.DeleteUser, person("gone", "Temp", "Staff"))
	waitFor("the leaver locked", func() bool { return count("(&(uid=leaver@acme.com)(pwdAccountLockedTime=*))") == 1 })
	waitFor("the deleted user gone", func() bool { return count("(uid=gone@acme.com)") == 0 })
	if n := count("(&(cn=Staff)(member=uid=gone@acme.com,ou=people," + suffix + "))"); n != 0 {
		t.Errorf("the deleted user is still a member of Staff")
	}

	// slapd goes down while messages arrive.
	_, before := ev.get()
	s.stop(t)
	const burst = 20
	for i := range burst {
		publish(wire.CreateUser, person(fmt.Sprintf("burst%02d", i), "Burst", "Burst"))
	}
	waitFor("a retry while slapd is down", func() bool { r, _ := ev.get(); return r > 0 })
	time.Sleep(500 * time.Millisecond) // several back-off rounds
	if _, h := ev.get(); h != before {
		t.Errorf("%d messages handled while slapd was down", h-before)
	}
	s.start(t)
	waitFor("all burst users after the restart", func() bool {
		return count("(&(objectClass=inetOrgPerson)(uid=burst*))") == burst
	})
	waitFor("all burst memberships", func() bool { return membersOf(t, s, "Burst") == burst })
	r, h := ev.get()
	t.Logf("%d retries while slapd was down; %d messages handled", r, h)
}

// membersOf counts the user members of group cn (without the groupOfNames placeholder); 0 when it is missing.
func membersOf(t *testing.T, s *slapd, cn string) int {
	n := 0
	s.admin(t, func(c *ldap.Conn) {
		res, err := c.Search(ldap.NewSearchRequest("ou=groups,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			"(cn="+ldap.EscapeFilter(cn)+")", []string{"member"}, nil))
		if err != nil || len(res.Entries) != 1 {
			return
		}
		for _, m := range res.Entries[0].GetAttributeValues("member") {
			if m != "" {
				n++
			}
		}
	})
	return n
}
