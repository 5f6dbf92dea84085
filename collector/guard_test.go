package collector

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// guarded is hrTenant with general.guard at its documented defaults (a configuration file gets them from Load).
func guarded(t *testing.T, ten *Tenant) *Tenant {
	t.Helper()
	tc := *ten.Config
	tc.General.Guard = config.Guard{MaxLeaversPercent: config.DefaultGuardPercent, MaxLeavers: config.DefaultGuardLeavers}
	ct, err := Compile(ten.Name, ten.Type, &tc)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func people(from, to int) []Record {
	var out []Record
	for i := from; i <= to; i++ {
		out = append(out, person(fmt.Sprint(i), "Given", fmt.Sprintf("Family%d", i), "Clerk"))
	}
	return out
}

// count tallies messages by kind: deactivations (active:false), deletions and the rest.
func tally(msgs []received) (deactivated, deleted, other int) {
	for _, m := range msgs {
		switch {
		case m.ActivityOperation == wire.DeleteUser:
			deleted++
		case m.User["active"] == false:
			deactivated++
		default:
			other++
		}
	}
	return
}

// A full HR collection that lists 50 of 100 people is held: no deactivation, while a title change of one of the
// 50 is published; it stays held at the next collection; a release publishes the 50 deactivations once.
func TestGuardHoldsMassLeaversUntilReleased(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := guarded(t, hrTenant(t))
	src := &listSource{typ: wire.HR, full: true}
	src.set(people(1, 100)...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	before := bus.lastSeq(t)
	half := people(1, 50)
	half[0] = person("1", "Given", "Family1", "Head Clerk")
	src.set(half...)
	for i := range 2 {
		stats, err := p.Collect(ctx, ten, src, false)
		if err != nil {
			t.Fatal(err)
		}
		var he *HeldError
		if stats.Held != 50 || !errors.As(stats.Warning, &he) || he.Hold.Leavers != 50 || he.Hold.Known != 100 {
			t.Fatalf("collection %d: want 50 of 100 held, got held=%d warning=%v", i+1, stats.Held, stats.Warning)
		}
	}
	deact, del, other := tally(bus.messages(t, before))
	if deact != 0 || del != 0 || other != 1 {
		t.Fatalf("while held: want 0 deactivations and the one title change, got %d deactivated, %d deleted, %d other", deact, del, other)
	}
	h, rel, err := bus.state.ReadHold(ctx)
	if err != nil || h == nil || rel != nil || h.Leavers != 50 {
		t.Fatalf("hold record: %+v %+v %v", h, rel, err)
	}
	if _, err := bus.state.ReleaseHold(ctx, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	before = bus.lastSeq(t)
	stats, err := p.Collect(ctx, ten, src, false)
	if err != nil || stats.Held != 0 || stats.Warning != nil {
		t.Fatalf("released collection: %v %s %v", err, stats, stats.Warning)
	}
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	deact, del, other = tally(bus.messages(t, before))
	if deact != 50 || del != 0 || other != 0 {
		t.Fatalf("after release: want 50 deactivations exactly once, got %d deactivated, %d deleted, %d other", deact, del, other)
	}
	if h, rel, err := bus.state.ReadHold(ctx); err != nil || h != nil || rel != nil {
		t.Fatalf("the hold and its release must be gone: %+v %+v %v", h, rel, err)
	}
}

// A held source that is fixed ends the hold by itself, and nobody is deactivated.
func TestGuardHoldEndsWhenSourceIsFixed(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := guarded(t, hrTenant(t))
	src := &listSource{typ: wire.HR, full: true}
	src.set(people(1, 100)...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	before := bus.lastSeq(t)
	src.set(people(1, 10)...)
	if stats, err := p.Collect(ctx, ten, src, false); err != nil || stats.Held != 90 {
		t.Fatalf("want 90 held: %v %s", err, stats)
	}
	// Fixed, except for 3 real leavers: under the bounds, published.
	src.set(people(1, 97)...)
	stats, err := p.Collect(ctx, ten, src, false)
	if err != nil || stats.Held != 0 || stats.Warning != nil {
		t.Fatalf("fixed source: %v %s %v", err, stats, stats.Warning)
	}
	deact, del, other := tally(bus.messages(t, before))
	if deact != 3 || del != 0 || other != 0 {
		t.Fatalf("want the 3 real leavers only, got %d deactivated, %d deleted, %d other", deact, del, other)
	}
	if h, _, err := bus.state.ReadHold(ctx); err != nil || h != nil {
		t.Fatalf("the hold must have ended: %+v %v", h, err)
	}
}

// A release approves the number held; a source that got worse since stays held.
func TestGuardReleaseCoversOnlyWhatWasHeld(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := guarded(t, hrTenant(t))
	src := &listSource{typ: wire.HR, full: true}
	src.set(people(1, 100)...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	before := bus.lastSeq(t)
	src.set(people(1, 60)...)
	if stats, _ := p.Collect(ctx, ten, src, false); stats.Held != 40 {
		t.Fatalf("want 40 held, got %s", stats)
	}
	if _, err := bus.state.ReleaseHold(ctx, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	src.set(people(1, 30)...)
	if stats, _ := p.Collect(ctx, ten, src, false); stats.Held != 70 {
		t.Fatalf("a release of 40 let a worse source through: %s", stats)
	}
	if n := len(bus.messages(t, before)); n != 0 {
		t.Fatalf("%d messages published while held", n)
	}
}

// Few leavers pass at once; a guard set to 0/0 is off.
func TestGuardLetsFewLeaversThroughAndCanBeOff(t *testing.T) {
	for _, c := range []struct {
		name    string
		g       config.Guard
		listed  int
		deact   int
		wantErr bool
	}{
		{"20 of 100 (at the count bound)", config.Guard{MaxLeaversPercent: 10, MaxLeavers: 20}, 80, 20, false},
		{"10 of 100 with only the percentage", config.Guard{MaxLeaversPercent: 10}, 90, 10, false},
		{"off", config.Guard{}, 10, 90, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bus := newTestBus(t)
			ctx := context.Background()
			p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
			ten := hrTenant(t)
			ten.Config.General.Guard = c.g
			src := &listSource{typ: wire.HR, full: true}
			src.set(people(1, 100)...)
			if _, err := p.Collect(ctx, ten, src, false); err != nil {
				t.Fatal(err)
			}
			before := bus.lastSeq(t)
			src.set(people(1, c.listed)...)
			stats, err := p.Collect(ctx, ten, src, false)
			if err != nil || stats.Held != 0 {
				t.Fatalf("%v %s", err, stats)
			}
			if deact, _, _ := tally(bus.messages(t, before)); deact != c.deact {
				t.Fatalf("want %d deactivations, got %d", c.deact, deact)
			}
		})
	}
}

// Entra deletions (delta removals) beyond the bounds are held too, and a held source is asked for a full
// collection so the deletions are found again.
func TestGuardHoldsEntraDeletions(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := guarded(t, entraTenant(t))
	src := &fullRequestSource{listSource: listSource{typ: wire.Entra, full: true}}
	var all []Record
	for i := range 40 {
		all = append(all, entraUser(fmt.Sprintf("u%d", i), fmt.Sprintf("u%d@example.com", i), "Engineer"))
	}
	src.set(all...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	before := bus.lastSeq(t)
	var removals []Record
	for i := range 25 {
		removals = append(removals, Record{ID: fmt.Sprintf("u%d", i), Removed: true})
	}
	src.full = false
	src.set(removals...)
	stats, err := p.Collect(ctx, ten, src, false)
	if err != nil || stats.Held != 25 || !src.requested {
		t.Fatalf("want 25 deletions held and a full collection requested: %v %s requested=%v", err, stats, src.requested)
	}
	if n := len(bus.messages(t, before)); n != 0 {
		t.Fatalf("%d messages published while held", n)
	}
	if us, _ := bus.state.User(ctx, "u0"); us == nil {
		t.Fatal("a held deletion forgot the user")
	}
	if _, err := bus.state.ReleaseHold(ctx, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	if _, del, _ := tally(bus.messages(t, before)); del != 25 { // on ALL (they were in no App1 group)
		t.Fatalf("want 25 deleteUser after the release, got %d deletions", del)
	}
}

type fullRequestSource struct {
	listSource
	requested bool
}

func (s *fullRequestSource) RequestFull() { s.requested = true }

// A source that reports an incomplete read publishes what it read and makes no leaver.
func TestIncompleteCollectionMakesNoLeavers(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t) // guard off: integrity alone must hold
	src := &listSource{typ: wire.HR, full: true}
	src.set(people(1, 10)...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	before := bus.lastSeq(t)
	part := people(1, 4)
	part[0] = person("1", "Given", "Family1", "Head Clerk")
	inc := sourceFunc(func(ctx context.Context, cp Checkpoints, emit func(Record) error) (bool, error) {
		for _, r := range part {
			if err := emit(r); err != nil {
				return false, err
			}
		}
		return true, Incomplete("the paging chain ended early", 4, 10, nil)
	})
	stats, err := p.Collect(ctx, ten, inc, false)
	if err != nil || stats.Warning == nil || stats.Full {
		t.Fatalf("want a warning, no error, not full: %v %s %v", err, stats, stats.Warning)
	}
	deact, _, other := tally(bus.messages(t, before))
	if deact != 0 || other != 1 {
		t.Fatalf("want the title change only, got %d deactivated, %d other", deact, other)
	}
}

// A record without a usable id may be anybody: nobody is a leaver in that collection.
func TestRecordWithoutIDMakesNoLeavers(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t)
	src := &listSource{typ: wire.HR, full: true}
	src.set(people(1, 5)...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	before := bus.lastSeq(t)
	recs := people(1, 4)
	recs = append(recs, Record{Data: map[string]any{"personIdExternal": map[string]any{"oops": 5}, "firstName": "Given"}})
	src.set(recs...)
	stats, err := p.Collect(ctx, ten, src, false)
	if err != nil || stats.Failed != 1 || stats.Warning == nil {
		t.Fatalf("%v %s %v", err, stats, stats.Warning)
	}
	if n := len(bus.messages(t, before)); n != 0 {
		t.Fatalf("a skipped record made %d messages (a leaver?)", n)
	}
	if us, _ := bus.state.User(ctx, "5"); us == nil || us.User["active"] != true {
		t.Fatalf("user 5 must stay as last published: %+v", us)
	}
}

// Two HR records with one id: neither is published — also the first one of the first collection that meets them —,
// the user stays as last published, at every collection, whatever the order; once the id is unique again, its
// record is published.
func TestDuplicateHRIDsPublishNeither(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t)
	src := &listSource{typ: wire.HR, full: true}
	src.set(people(1, 5)...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	before := bus.lastSeq(t)
	// The impostor comes first, so its change was ready before its twin showed who it is.
	impostor := person("3", "Other", "Person", "Pilot")
	src.set(append([]Record{impostor}, people(1, 5)...)...)
	for i := range 3 {
		stats, err := p.Collect(ctx, ten, src, false)
		if err != nil || stats.Failed != 1 {
			t.Fatalf("collection %d: %v %s", i+1, err, stats)
		}
		// The next collections see it last.
		src.set(append(people(1, 5), impostor)...)
	}
	if msgs := bus.messages(t, before); len(msgs) != 0 {
		t.Fatalf("a duplicate id published %d messages: %+v", len(msgs), msgs)
	}
	if us, _ := bus.state.User(ctx, "3"); us == nil || us.User["title"] != "Clerk" {
		t.Fatalf("user 3 must stay as last published: %+v", us)
	}
	src.set(append(people(1, 2), append([]Record{person("3", "Given", "Family3", "Senior Clerk")}, people(4, 5)...)...)...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs := bus.messages(t, before)
	if len(msgs) != 1 || msgs[0].TargetID != "3" || msgs[0].User["title"] != "Senior Clerk" {
		t.Fatalf("once unique again, the record must be published: %+v", msgs)
	}
}

// The percentage is of the active users: people deactivated long ago do not make a mass change look small.
func TestGuardPercentageOfActiveUsers(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t)
	ten.Config.General.Guard = config.Guard{MaxLeaversPercent: 10, MaxLeavers: 20}
	src := &listSource{typ: wire.HR, full: true}
	src.set(people(1, 500)...)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	// 300 leave, in steps the guard lets through (20 at a time), and stay in the state as inactive.
	for n := 480; n >= 200; n -= 20 {
		src.set(people(1, n)...)
		if stats, err := p.Collect(ctx, ten, src, false); err != nil || stats.Held != 0 {
			t.Fatalf("%d listed: %v %s", n, err, stats)
		}
	}
	// 30 of the 200 active users (15 %) is held, although it is 6 % of the 500 users the state holds.
	src.set(people(1, 170)...)
	stats, err := p.Collect(ctx, ten, src, false)
	var he *HeldError
	if err != nil || stats.Held != 30 || !errors.As(stats.Warning, &he) || he.Hold.Known != 200 {
		t.Fatalf("want 30 of 200 held: %v %s %v", err, stats, stats.Warning)
	}
}
