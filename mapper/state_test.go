package mapper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/mapper"
	"github.com/scim-stream/scim-stream/wire"
)

// newState starts an embedded JetStream server and returns the collector's KV-backed state, the registry the
// pipeline gives the mapper.
func newState(t *testing.T) *collector.State {
	t.Helper()
	return collector.NewState(brokertest.BareKV(t, "mapper_state_test"))
}

// TestGetUniqueValueOnCollectorState runs the documentation's SuccessFactors mapping against the real KV-backed
// registry: concurrent John Smiths get distinct UPNs and sAMAccountNames, and remapping an owner gives it back
// its own values.
func TestGetUniqueValueOnCollectorState(t *testing.T) {
	st := newState(t)
	var _ mapper.Uniqueness = st
	src, err := os.ReadFile(filepath.Join("..", "testdata", "config", "hr-successfactors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, src, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Check(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapper.Compile(wire.HR, cfg.HR["mycompany"].Mapper)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata", "sf-perperson.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()

	const n = 20
	upn := make([]string, n)
	sam := make([]string, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := m.Map(ctx, raw, mapper.Options{New: true, Owner: fmt.Sprint("person-", i), Unique: st, Now: now})
			if err != nil {
				errs[i] = err
				return
			}
			oc := u["onCreate"].(map[string]any)
			upn[i], sam[i] = oc["userPrincipalName"].(string), oc["sAMAccountName"].(string)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seenU, seenS := map[string]bool{}, map[string]bool{}
	for i := range n {
		if seenU[upn[i]] || seenS[sam[i]] {
			t.Fatalf("duplicate: %s %s", upn[i], sam[i])
		}
		seenU[upn[i]], seenS[sam[i]] = true, true
	}
	if !seenU["john.smith@mycompany.com"] || !seenU["john.smith01@mycompany.com"] || !seenS["smijo01"] || !seenS[fmt.Sprintf("smijo%02d", n)] {
		t.Fatalf("unexpected candidates: %v %v", upn, sam)
	}
	// Remapping an owner (a repeated collection) returns its own values, burning no candidate.
	u, err := m.Map(ctx, raw, mapper.Options{New: true, Owner: "person-7", Unique: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	oc := u["onCreate"].(map[string]any)
	if oc["userPrincipalName"] != upn[7] || oc["sAMAccountName"] != sam[7] {
		t.Fatalf("owner got %v, had %s %s", oc, upn[7], sam[7])
	}
	// A new owner continues after the taken ones.
	u, err = m.Map(ctx, raw, mapper.Options{New: true, Owner: "person-new", Unique: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if got := u["onCreate"].(map[string]any)["userPrincipalName"]; got != fmt.Sprintf("john.smith%02d@mycompany.com", n) {
		t.Fatalf("next UPN %v", got)
	}
}
