package gateway_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/collector/hr"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/wire"
)

// hrDynamics gives consultants an App1 role, in the documentation's YAML form.
const hrDynamics = `
- comment: consultants get the App1 consultant role
  dynamic_id: dyn-consultants
  rules:
    - filter: (user.title -match ".*Consultant.*")
  assignments:
    user.roles:
      - display: Consultant access
        value: Consultants
        type: App1
`

// TestHRToStore is the whole chain into the default endpoint: the SuccessFactors imitation → the documentation's
// HR tenant (plus a dynamic role) → collector pipeline → broker → gateway subscriber (deleteUserOnLastGroupRoleRemoval)
// → store. Joiners arrive mapped, the dynamic role as a group; a leaver becomes inactive; a consultant who
// becomes a developer loses the role, their last one, and is deleted.
func TestHRToStore(t *testing.T) {
	env := brokertest.Start(t, "mycompany")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	company := successfactors.NewSampleCompany(8, time.Now)
	srv, tc := successfactors.DocsTenant(t, company, "../testdata/config/hr-successfactors.yaml")
	if err := yaml.Unmarshal([]byte(hrDynamics), &tc.Dynamics); err != nil {
		t.Fatal(err)
	}
	tenant, err := collector.Compile("mycompany", wire.HR, tc)
	if err != nil {
		t.Fatal(err)
	}
	src, err := hr.New("mycompany", *tc, hr.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := collector.NewPipeline(ctx, env.Broker, "mycompany", wire.HR)
	if err != nil {
		t.Fatal(err)
	}

	jwt, seed := env.SubscriberCreds(t, "mycompany", wire.HR, wire.DurableName("hr-gw", "undefined"))
	cfg := gateway.SubscriberConfig("hr-gw", t.TempDir(), []string{env.URL()}, env.CAFile(), map[string]gateway.Entity{
		"undefined": {NATS: gateway.NATS{Tenant: "mycompany", Subject: "HR.SF", JWT: jwt, Secret: config.Secret(seed)},
			DeleteUserOnLastGroupRoleRemoval: true},
	})
	var mu sync.Mutex
	var evs, evs2 []gateway.Event
	st := runStoreGateway(t, cfg, func(e gateway.Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() })
	// A second gateway on the same channel keeps users who lose their last role.
	jwt2, seed2 := env.SubscriberCreds(t, "mycompany", wire.HR, wire.DurableName("hr-keep", "undefined"))
	st2 := runStoreGateway(t, gateway.SubscriberConfig("hr-keep", t.TempDir(), []string{env.URL()}, env.CAFile(), map[string]gateway.Entity{
		"undefined": {NATS: gateway.NATS{Tenant: "mycompany", Subject: "HR.SF", JWT: jwt2, Secret: config.Secret(seed2)}},
	}), func(e gateway.Event) { mu.Lock(); evs2 = append(evs2, e); mu.Unlock() })

	// collect runs one collection and waits until the gateway handled every message it published.
	collect := func(what string) []gateway.Event {
		t.Helper()
		mu.Lock()
		before, before2 := len(evs), len(evs2)
		mu.Unlock()
		stats, err := p.Collect(ctx, tenant, src, false)
		if err != nil {
			t.Fatal(err)
		}
		if stats.Published == 0 {
			t.Fatalf("%s: nothing published: %+v", what, stats)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got := append([]gateway.Event(nil), evs[before:]...)
			got2 := len(evs2) - before2
			mu.Unlock()
			if len(got) >= stats.Published && got2 >= stats.Published {
				for _, e := range got {
					if e.Action == gateway.ActionTerminated || e.Action == gateway.ActionRetrying {
						t.Fatalf("%s: %s %s: %v", what, e.Action, e.UserName, e.Err)
					}
				}
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d and %d of %d messages handled by the two gateways\n%s", what, len(got), got2, stats.Published, logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	first := collect("initial load")
	created := 0
	for _, e := range first {
		if e.Action == gateway.ActionCreated {
			created++
		}
	}
	if created < 7 {
		t.Fatalf("%d users created by the initial load, want the 7 current employees: %+v", created, first)
	}
	ceo, _ := company.Person("1001")
	u, err := st.FindUser(ctx, "1001")
	if err != nil {
		t.Fatal(err)
	}
	name, _ := u["name"].(map[string]any)
	if name["givenName"] != ceo.FirstName || name["familyName"] != ceo.LastName || u["title"] != "Chief Executive Officer" || u["active"] != true {
		t.Errorf("CEO in the store: %v", u)
	}
	if upn, _ := u["userPrincipalName"].(string); upn == "" || u["sAMAccountName"] == nil {
		t.Errorf("the onCreate attributes are missing: userPrincipalName %v sAMAccountName %v", u["userPrincipalName"], u["sAMAccountName"])
	}
	consultant, err := st.FindUser(ctx, "1002")
	if err != nil {
		t.Fatal(err)
	}
	// The role became a membership of the group named by the role's value.
	if g := groupNames(consultant); consultant["title"] != "Senior Consultant" || !slices.Equal(g, []string{"Consultants"}) {
		t.Fatalf("consultant: title %v, groups %v; want the dynamic role as the group Consultants", consultant["title"], g)
	}

	// A leaver and a mover out of the dynamic's scope.
	if err := company.SetEndDate("1004", time.Now().AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	if err := company.SetTitle("1002", "Developer"); err != nil {
		t.Fatal(err)
	}
	second := collect("leaver and mover")
	actions := map[string]gateway.Action{}
	for _, e := range second {
		actions[e.UserName] = e.Action
	}
	if actions["1002"] != gateway.ActionDeleted {
		t.Errorf("the consultant who lost their last role: %s, want deleted (%+v)", actions["1002"], second)
	}
	if _, err := st.FindUser(ctx, "1002"); err == nil {
		t.Error("the user who lost their last role is still in the store")
	}
	leaver, err := st.FindUser(ctx, "1004")
	if err != nil {
		t.Fatalf("the leaver: %v", err)
	}
	if leaver["active"] != false {
		t.Errorf("leaver active = %v, want false", leaver["active"])
	}
	if _, err := st.FindUser(ctx, "1003"); err != nil {
		t.Errorf("an unchanged user without roles: %v", err)
	}
	// Without deleteUserOnLastGroupRoleRemoval the mover stays and only the role's membership goes.
	kept, err := st2.FindUser(ctx, "1002")
	if err != nil {
		t.Fatalf("the mover in the gateway that keeps users: %v", err)
	}
	if g := groupNames(kept); kept["title"] != "Developer" || len(g) != 0 {
		t.Errorf("the mover: title %v, groups %v; want Developer and no groups", kept["title"], g)
	}
	mu.Lock()
	for _, e := range evs2 {
		if e.Warning != "" {
			t.Errorf("%s: %s", e.UserName, e.Warning)
		}
	}
	mu.Unlock()
}

var logs = &logBuf{}

// runStoreGateway runs a gateway with the store endpoint until the test ends.
func runStoreGateway(t *testing.T, cfg *gateway.Config, onEvent func(gateway.Event)) *store.Store {
	t.Helper()
	g, err := gateway.Open(context.Background(), cfg, options(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	g.OnEvent = onEvent
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done; g.Close() })
	return g.Endpoint.(*store.Store)
}
