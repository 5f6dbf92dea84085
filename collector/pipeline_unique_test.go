package collector

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// johnSmiths are n SuccessFactors people called John Smith (ids prefix0 … prefixN-1): every one collides with the
// others on both unique attributes of the documentation's mapping.
func johnSmiths(tb testing.TB, prefix string, n int) *listSource {
	s := newSFSource(tb, 1)
	var recs []Record
	for i := range n {
		r := s.record(0)
		r.ID = fmt.Sprintf("%s%03d", prefix, i)
		r.Data["personIdExternal"] = r.ID
		pi := r.Data["personalInfoNav"].(map[string]any)["results"].([]any)[0].(map[string]any)
		pi["firstName"], pi["lastName"] = "John", "Smith"
		recs = append(recs, r)
	}
	src := &listSource{typ: wire.HR, full: true}
	src.set(recs...)
	return src
}

func onCreate(u scim.User) (upn, sam string) {
	oc, _ := u["onCreate"].(map[string]any)
	upn, _ = oc["userPrincipalName"].(string)
	sam, _ = oc["sAMAccountName"].(string)
	return upn, sam
}

// Two processes collecting into the same state at once (two pipelines, each with its own reservation cache):
// the KV create stays the authority, so no value is given twice.
func TestUniqueValuesAcrossConcurrentCollections(t *testing.T) {
	concurrentCollections(t, func(bus *testBus) *State { return NewState(bus.state.kv) })
}

// The same with asynchronous states: both collections start on an empty state, so both answer reservations from
// memory; the KV's create check on each reservation written makes the loser map its user again.
func TestUniqueValuesAcrossConcurrentCollectionsFromMemory(t *testing.T) {
	concurrentCollections(t, func(bus *testBus) *State { return NewStateAsync(bus.state.kv, bus.js) })
}

func concurrentCollections(t *testing.T, newState func(*testBus) *State) {
	bus := newTestBus(t)
	ten := benchTenant(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, prefix := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &Pipeline{JS: bus.js, State: newState(bus), Now: clockAt("2026-06-01T08:00:00Z")}
			src := johnSmiths(t, prefix, 60)
			src.full = false // each process sees only its own people: none of the others is a leaver
			_, errs[i] = p.Collect(context.Background(), ten, src, false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	upns, sams := map[string]any{}, map[string]any{}
	for _, m := range bus.messages(t, 0) {
		if m.Subject != "HR.SF" {
			continue
		}
		upn, sam := onCreate(m.User)
		if other, dup := upns[upn]; dup || upn == "" {
			t.Fatalf("UPN %q given to %v and %v", upn, other, m.TargetID)
		}
		if other, dup := sams[sam]; dup || sam == "" {
			t.Fatalf("sAMAccountName %q given to %v and %v", sam, other, m.TargetID)
		}
		upns[upn], sams[sam] = m.TargetID, m.TargetID
	}
	if len(upns) != 120 {
		t.Fatalf("%d users published on HR.SF, want 120", len(upns))
	}
}

// A value another process reserved after this collection read the state is not granted from the cache: the
// collection's own create finds it taken.
func TestReservationMadeElsewhereDuringACollection(t *testing.T) {
	bus := newTestBus(t)
	ten := benchTenant(t)
	src := johnSmiths(t, "p", 1)
	other := NewState(bus.state.kv) // another process on the same bucket
	collect := sourceFunc(func(ctx context.Context, cp Checkpoints, emit func(Record) error) (bool, error) {
		// The collection has loaded its snapshot of the reservations by now.
		if ok, err := other.Reserve(ctx, "userPrincipalName", "john.smith@mycompany.com", "elsewhere"); err != nil || !ok {
			t.Fatalf("reserve elsewhere: %v %v", ok, err)
		}
		if ok, err := other.Reserve(ctx, "sAMAccountName", "smijo01", "elsewhere"); err != nil || !ok {
			t.Fatalf("reserve elsewhere: %v %v", ok, err)
		}
		return src.Collect(ctx, cp, emit)
	})
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	if _, err := p.Collect(context.Background(), ten, collect, false); err != nil {
		t.Fatal(err)
	}
	msgs := bus.messages(t, 0)
	if len(msgs) == 0 {
		t.Fatal("nothing published")
	}
	if upn, sam := onCreate(msgs[0].User); upn != "john.smith01@mycompany.com" || sam != "smijo02" {
		t.Fatalf("got %s %s; the values reserved elsewhere must not be granted again", upn, sam)
	}
}

// Users whose state was lost after their messages were acknowledged (a crash before the state write) are mapped
// as new again: they get back the unique values they hold, their messages carry the same ids and JetStream drops
// them, and nobody burns a new candidate.
func TestLostStateKeepsUniqueValuesAndMessageIDs(t *testing.T) {
	bus := newTestBus(t)
	ten := benchTenant(t)
	src := johnSmiths(t, "p", 40)
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ctx := context.Background()
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	first := bus.messages(t, 0)
	had := map[string][2]string{}
	for _, m := range first {
		upn, sam := onCreate(m.User)
		had[m.TargetID] = [2]string{upn, sam}
	}
	for _, id := range []string{"p000", "p017", "p039"} {
		if err := bus.state.DeleteUser(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Forgetting the state of some users republishes them; the same ids make JetStream drop the copies.
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	if n := len(bus.messages(t, uint64(len(first)))); n != 0 {
		t.Fatalf("%d messages published again; the republished changes must carry their first ids", n)
	}
	for _, id := range []string{"p000", "p017", "p039"} {
		us, err := bus.state.User(ctx, id)
		if err != nil || us == nil {
			t.Fatalf("%s: state not restored (%v)", id, err)
		}
		if upn, sam := onCreate(us.User); [2]string{upn, sam} != had[id] {
			t.Errorf("%s held %v and got %s %s", id, had[id], upn, sam)
		}
	}
	// A new John Smith gets the next free values.
	more := johnSmiths(t, "p", 41)
	if _, err := p.Collect(ctx, ten, more, false); err != nil {
		t.Fatal(err)
	}
	last := bus.messages(t, uint64(len(first)))
	if len(last) == 0 {
		t.Fatal("the new person was not published")
	}
	if upn, sam := onCreate(last[0].User); upn != "john.smith40@mycompany.com" || sam != "smijo41" {
		t.Fatalf("the 41st John Smith got %s %s", upn, sam)
	}
}

// The same object twice in one collection of a delta source (an Entra delta page can repeat one): the second
// change is diffed against the first, which is stored by then, and both are published in order. (The same id
// twice in an HR listing is a data error: TestDuplicateHRIDsPublishNeither.)
func TestSameRecordTwiceInOneCollection(t *testing.T) {
	bus := newTestBus(t)
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t)
	ten.Type = wire.Entra
	src := &listSource{typ: wire.Entra}
	src.set(person("1", "Ada", "Lovelace", "Engineer"), person("2", "Alan", "Turing", "Analyst"),
		person("1", "Ada", "Lovelace", "Principal Engineer"))
	stats, err := p.Collect(context.Background(), ten, src, false)
	if err != nil {
		t.Fatal(err)
	}
	var ada []received
	for _, m := range bus.messages(t, 0) {
		if m.TargetID == "1" {
			ada = append(ada, m)
		}
	}
	if len(ada) != 2 || ada[0].ActivityOperation != wire.CreateUser || ada[1].ActivityOperation != wire.ModifyUser {
		t.Fatalf("want a createUser then a modifyUser for the repeated record, got %+v (stats %s)", ada, stats)
	}
	if ops := ada[1].Operations; len(ops) != 1 || ops[0].Path != "title" || ops[0].Value != "Principal Engineer" {
		t.Fatalf("the second change must be diffed against the first: %+v", ops)
	}
	if us, _ := bus.state.User(context.Background(), "1"); us == nil || us.User["title"] != "Principal Engineer" {
		t.Fatalf("state after the collection: %+v", us)
	}
}
