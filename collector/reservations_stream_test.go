package collector

import (
	"context"
	"strings"
	"testing"
)

// An initial load answers reservations from memory, knowing those the state held before it started: values
// reserved earlier (by users since removed from the state) are not granted again, and every value granted from
// memory is in the KV, with its owner, by the time the collection returns.
func TestInitialLoadFromMemoryKnowsEarlierReservations(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	for _, r := range [][2]string{{"userPrincipalName", "john.smith@mycompany.com"}, {"sAMAccountName", "smijo01"},
		{"userPrincipalName", "john.smith02@mycompany.com"}} {
		if ok, err := bus.state.Reserve(ctx, r[0], r[1], "gone"); err != nil || !ok {
			t.Fatalf("reserve %v: %v %v", r, ok, err)
		}
	}
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	stats, err := p.Collect(ctx, benchTenant(t), johnSmiths(t, "p", 5), false)
	if err != nil || stats.Failed != 0 {
		t.Fatalf("collect: %v (%s)", err, stats)
	}
	upns, sams := map[string]bool{}, map[string]bool{}
	for _, m := range bus.messages(t, 0) {
		if m.Subject != "HR.SF" {
			continue
		}
		upn, sam := onCreate(m.User)
		if upns[upn] || sams[sam] {
			t.Fatalf("%s: %s or %s given twice", m.TargetID, upn, sam)
		}
		upns[upn], sams[sam] = true, true
		if upn == "john.smith@mycompany.com" || upn == "john.smith02@mycompany.com" || sam == "smijo01" {
			t.Fatalf("%s got %s %s, reserved before the collection by another user", m.TargetID, upn, sam)
		}
		for attr, v := range map[string]string{"userPrincipalName": upn, "sAMAccountName": sam} {
			// Held by this user in the KV: Reserve for the user says yes, for anyone else no.
			if ok, err := bus.state.Reserve(ctx, attr, strings.ToUpper(v), m.TargetID); err != nil || !ok {
				t.Fatalf("%s %s %q is not reserved for %s in the KV: %v %v", m.TargetID, attr, v, m.TargetID, ok, err)
			}
			if ok, _ := bus.state.Reserve(ctx, attr, v, "someone-else"); ok {
				t.Fatalf("%s %q was free in the KV after the collection", attr, v)
			}
		}
	}
	if len(upns) != 5 {
		t.Fatalf("%d users published, want 5", len(upns))
	}
}
