package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// testBus is a bare JetStream server with the tenant's stream (as the broker creates it) and a state bucket.
type testBus struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	state  *State
}

func newTestBus(t testing.TB) *testBus {
	t.Helper()
	js := brokertest.BareJetStream(t)
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "acme", Subjects: []string{"ENTRA.>", "HR.>"},
		Duplicates: 24 * time.Hour, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "state_acme_hr"})
	if err != nil {
		t.Fatal(err)
	}
	return &testBus{js: js, stream: st, state: NewStateAsync(kv, js)}
}

// received is a published message as a subscriber sees it.
type received struct {
	Subject string
	MsgID   string
	wire.Message
}

// messages reads everything in the stream (from sequence after) in order.
func (b *testBus) messages(t *testing.T, after uint64) []received {
	t.Helper()
	ctx := context.Background()
	info, err := b.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []received
	for seq := after + 1; seq <= info.State.LastSeq; seq++ {
		m, err := b.stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var r received
		if err := json.Unmarshal(m.Data, &r.Message); err != nil {
			t.Fatalf("message %d is not JSON: %v", seq, err)
		}
		r.Subject = m.Subject
		r.MsgID = m.Header.Get(wire.MsgIDHeader)
		if r.MsgID == "" || m.Header.Get("Nats-Msg-Id") != r.MsgID {
			t.Fatalf("message %d: Msg-Id %q, Nats-Msg-Id %q: both must be set and equal", seq, r.MsgID, m.Header.Get("Nats-Msg-Id"))
		}
		out = append(out, r)
	}
	return out
}

func (b *testBus) lastSeq(t *testing.T) uint64 {
	info, err := b.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// listSource is a source over a fixed list of records (the HR and Entra sources are tested against their
// imitation servers in their own packages and end to end in cmd/scim-stream).
type listSource struct {
	typ     wire.Type
	full    bool
	mu      sync.Mutex
	records []Record
	// onCheckpoint runs inside Collect right after the source stored its checkpoint.
	onCheckpoint func(context.Context) error
}

func (s *listSource) Type() wire.Type { return s.typ }

func (s *listSource) Policy() Policy { return testPolicy(s.typ) }

// testPolicy is what the HR and Entra sources declare, for the test sources standing in for them.
func testPolicy(typ wire.Type) Policy {
	if typ == wire.HR {
		return Policy{Leavers: LeaversDeactivated, Lifecycle: true}
	}
	return Policy{Leavers: LeaversDeleted}
}

func (s *listSource) set(recs ...Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = recs
}

func (s *listSource) Collect(ctx context.Context, cp Checkpoints, emit func(Record) error) (bool, error) {
	s.mu.Lock()
	recs := append([]Record(nil), s.records...)
	s.mu.Unlock()
	for _, r := range recs {
		if err := emit(r); err != nil {
			return false, err
		}
	}
	if err := cp.Put(ctx, "list.watermark", []byte(fmt.Sprint(len(recs)))); err != nil {
		return false, err
	}
	if s.onCheckpoint != nil {
		if err := s.onCheckpoint(ctx); err != nil {
			return false, err
		}
	}
	return s.full, nil
}

func person(id, given, family, title string, extra ...any) Record {
	data := map[string]any{"personIdExternal": id, "firstName": given, "lastName": family, "jobTitle": title}
	for i := 0; i+1 < len(extra); i += 2 {
		data[extra[i].(string)] = extra[i+1]
	}
	return Record{ID: id, Data: data}
}

func hrTenant(t *testing.T, streams ...config.Stream) *Tenant {
	t.Helper()
	if len(streams) == 0 {
		streams = []config.Stream{{Channel: "SF", Rules: []config.Filter{{Filter: "(.*)"}}}}
	}
	tc := &config.Tenant{
		General: config.General{HR: config.HRGeneral{PreActivateDays: 2}},
		Streams: streams,
		Mapper: config.Mapper{User: []config.Mapping{
			{Source: "personIdExternal", MapTo: "userName"},
			{Source: "firstName", MapTo: "name.givenName"},
			{Source: "lastName", MapTo: "name.familyName"},
			{Source: "jobTitle", MapTo: "title"},
			{Source: "startDate", MapTo: "startDate"},
			{Source: "endDate", MapTo: "endDate"},
		}},
	}
	ct, err := Compile("acme", wire.HR, tc)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func clockAt(s string) func() time.Time {
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return ts }
}

func TestJoinersMoversLeavers(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	now := clockAt("2026-06-01T08:00:00Z")
	p := &Pipeline{JS: bus.js, State: bus.state, Now: func() time.Time { return now() }}
	ten := hrTenant(t)
	src := &listSource{typ: wire.HR, full: true}
	src.set(
		person("1001", "Ada", "Lovelace", "Engineer", "startDate", "/Date(1704067200000)/"),
		person("1002", "Alan", "Turing", "Analyst", "startDate", "2025-03-01"),
		person("1003", "Grace", "Hopper", "Admiral", "startDate", "2026-06-10"), // future hire
	)
	stats, err := p.Collect(ctx, ten, src, false)
	if err != nil {
		t.Fatal(err)
	}
	msgs := bus.messages(t, 0)
	if len(msgs) != 2 || stats.Skipped != 1 {
		t.Fatalf("want 2 createUser messages and the future hire skipped; got %d messages, stats %s", len(msgs), stats)
	}
	for _, m := range msgs {
		if m.Subject != "HR.SF" || m.ActivityOperation != wire.CreateUser || m.User["active"] != true || m.TargetUPN != m.User["userName"] {
			t.Errorf("unexpected joiner message: %+v", m)
		}
	}

	// Unchanged source: nothing is published.
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	if n := len(bus.messages(t, 2)); n != 0 {
		t.Fatalf("an unchanged collection published %d messages", n)
	}

	// Mover: one title change gives exactly one modifyUser with a replace of title.
	src.set(
		person("1001", "Ada", "Lovelace", "Principal Engineer", "startDate", "/Date(1704067200000)/"),
		person("1002", "Alan", "Turing", "Analyst", "startDate", "2025-03-01"),
		person("1003", "Grace", "Hopper", "Admiral", "startDate", "2026-06-10"),
	)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs = bus.messages(t, 2)
	if len(msgs) != 1 || msgs[0].ActivityOperation != wire.ModifyUser {
		t.Fatalf("want one modifyUser, got %+v", msgs)
	}
	if got := msgs[0].Operations; len(got) != 1 || got[0].Op != "replace" || got[0].Path != "title" || got[0].Value != "Principal Engineer" {
		t.Fatalf("operations = %+v, want one replace of title", got)
	}

	// The future hire appears on startDate - pre_activate_days (2 days) with no change in the source.
	now = clockAt("2026-06-08T00:30:00Z")
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs = bus.messages(t, 3)
	if len(msgs) != 1 || msgs[0].ActivityOperation != wire.CreateUser || msgs[0].User["userName"] != "1003" {
		t.Fatalf("the pre-activated joiner must be created on 2026-06-08; got %+v", msgs)
	}

	// Leaver: an end date that passes deactivates.
	src.set(
		person("1001", "Ada", "Lovelace", "Principal Engineer", "startDate", "/Date(1704067200000)/"),
		person("1002", "Alan", "Turing", "Analyst", "startDate", "2025-03-01", "endDate", "2026-06-30"),
		person("1003", "Grace", "Hopper", "Admiral", "startDate", "2026-06-10"),
	)
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs = bus.messages(t, 4)
	if len(msgs) != 1 || msgs[0].User["active"] != true {
		t.Fatalf("a future end date is an attribute change only; got %+v", msgs)
	}
	now = clockAt("2026-07-01T06:00:00Z")
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs = bus.messages(t, 5)
	if len(msgs) != 1 || msgs[0].ActivityOperation != wire.ModifyUser || msgs[0].User["active"] != false {
		t.Fatalf("after endDate the leaver must get active:false; got %+v", msgs)
	}
}

func TestVanishedHRPersonIsDeactivatedNotDeleted(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t)
	src := &listSource{typ: wire.HR, full: true}
	src.set(person("1", "A", "B", "x"), person("2", "C", "D", "y"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	// An empty result is a source problem, not everyone leaving.
	src.set()
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	if n := len(bus.messages(t, 2)); n != 0 {
		t.Fatalf("an empty full collection deactivated %d users", n)
	}
	src.set(person("1", "A", "B", "x"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs := bus.messages(t, 2)
	if len(msgs) != 1 || msgs[0].User["userName"] != "2" || msgs[0].User["active"] != false || msgs[0].ActivityOperation != wire.ModifyUser {
		t.Fatalf("the vanished person must be deactivated once; got %+v", msgs)
	}
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	if n := len(bus.messages(t, 3)); n != 0 {
		t.Fatalf("a vanished person was deactivated again (%d messages)", n)
	}
}

func TestMappingFailureSkipsOnlyThatRecord(t *testing.T) {
	bus := newTestBus(t)
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t)
	src := &listSource{typ: wire.HR}
	// No id at all: cannot be keyed.
	src.set(person("1", "A", "B", "x"), Record{Data: map[string]any{"firstName": "Nobody"}}, person("3", "E", "F", "z"))
	stats, err := p.Collect(context.Background(), ten, src, false)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Failed != 1 || len(bus.messages(t, 0)) != 2 {
		t.Fatalf("want 1 failed record and 2 published users; stats %s", stats)
	}
}

// A collection that dies half way (the process is killed) and is repeated publishes every change exactly once
// as the subscriber sees it: the republished messages carry the same Msg-Id and JetStream drops them.
func TestInterruptedCollectionRepeatsWithoutDuplicates(t *testing.T) {
	bus := newTestBus(t)
	ten := hrTenant(t)
	var recs []Record
	for i := 0; i < 300; i++ {
		recs = append(recs, person(fmt.Sprintf("p%03d", i), "Given", fmt.Sprintf("Family%d", i), "Staff"))
	}
	crash := errors.New("killed")
	ctx, cancel := context.WithCancelCause(context.Background())
	count := 0
	src := &listSource{typ: wire.HR, full: true}
	src.set(recs...)
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z"), InFlight: 64}
	crashing := sourceFunc(func(ctx context.Context, cp Checkpoints, emit func(Record) error) (bool, error) {
		for _, r := range recs {
			if count++; count == 200 {
				cancel(crash)
				return false, crash
			}
			if err := emit(r); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if _, err := p.Collect(ctx, ten, crashing, false); err == nil {
		t.Fatal("the interrupted collection must report its error")
	}
	// Forget part of the state as if the process died before writing it: those users are republished.
	if err := bus.state.DeleteUser(context.Background(), "p150"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Collect(context.Background(), ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs := bus.messages(t, 0)
	ids := map[string]int{}
	users := map[any]int{}
	for _, m := range msgs {
		ids[m.MsgID]++
		users[m.User["userName"]]++
	}
	if len(users) != 300 {
		t.Fatalf("subscriber saw %d distinct users, want 300", len(users))
	}
	for u, n := range users {
		if n != 1 {
			t.Errorf("user %v received %d times", u, n)
		}
	}
}

type sourceFunc func(ctx context.Context, cp Checkpoints, emit func(Record) error) (bool, error)

func (f sourceFunc) Type() wire.Type { return wire.HR }
func (f sourceFunc) Policy() Policy  { return testPolicy(wire.HR) }
func (f sourceFunc) Collect(ctx context.Context, cp Checkpoints, emit func(Record) error) (bool, error) {
	return f(ctx, cp, emit)
}

// A source's checkpoint write waits until everything it emitted before is acknowledged and in the state.
func TestCheckpointWaitsForAcks(t *testing.T) {
	bus := newTestBus(t)
	ten := hrTenant(t)
	src := &listSource{typ: wire.HR}
	var recs []Record
	for i := 0; i < 500; i++ {
		recs = append(recs, person(fmt.Sprintf("c%03d", i), "G", "F", "T"))
	}
	src.set(recs...)
	src.onCheckpoint = func(ctx context.Context) error {
		if n := bus.lastSeq(t); n != 500 {
			return fmt.Errorf("checkpoint stored with %d of 500 messages acknowledged", n)
		}
		last, err := bus.state.User(ctx, "c499")
		if err != nil || last == nil {
			return fmt.Errorf("checkpoint stored before the state of the last user (%v)", err)
		}
		return nil
	}
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	if _, err := p.Collect(context.Background(), ten, src, false); err != nil {
		t.Fatal(err)
	}
}

func TestInitialLoadRepublishesMatchingUsersOnce(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t)
	src := &listSource{typ: wire.HR, full: true}
	src.set(person("1", "A", "B", "Consultant"), person("2", "C", "D", "Manager"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	ten.Config.General.DoInitialLoadFilter = `(user.title -match "Consultant")`
	ten2, err := Compile("acme", wire.HR, ten.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Collect(ctx, ten2, src, true); err != nil {
		t.Fatal(err)
	}
	msgs := bus.messages(t, 2)
	if len(msgs) != 1 || msgs[0].User["title"] != "Consultant" {
		t.Fatalf("initial load with a filter must republish only the consultant; got %+v", msgs)
	}
	// The next ordinary collection publishes nothing.
	if _, err := p.Collect(ctx, ten2, src, false); err != nil {
		t.Fatal(err)
	}
	if n := len(bus.messages(t, 3)); n != 0 {
		t.Fatalf("published %d after the initial load", n)
	}
}

func entraUser(id, upn, title string, groups ...string) Record {
	var gs []any
	for _, g := range groups {
		gs = append(gs, map[string]any{"display": g, "value": g})
	}
	return Record{ID: id, InitiatedByUPN: "admin@example.com", Data: map[string]any{
		"id": id, "userPrincipalName": upn, "jobTitle": title, "accountEnabled": true, "groups": gs}}
}

func entraTenant(t *testing.T) *Tenant {
	t.Helper()
	tc := &config.Tenant{
		Streams: []config.Stream{
			{Channel: "APP1", Rules: []config.Filter{{Filter: `(user.groups.display -match "App1_.*")`}}},
			{Channel: "ALL", Rules: []config.Filter{{Filter: "(.*)"}}},
		},
		Dynamics: []config.Dynamic{{DynamicID: "dyn-consultant",
			Rules:       []config.Filter{{Filter: `(user.title -match ".*Consultant.*")`}},
			Assignments: []config.Assignment{{Path: "user.groups", Value: []any{map[string]any{"display": "App1_Consultants", "value": "App1_Consultants"}}}}}},
		Mapper: config.Mapper{User: []config.Mapping{
			{Source: "userPrincipalName", MapTo: "userName"},
			{Source: "jobTitle", MapTo: "title"},
			{Source: "groups", MapTo: "groups"},
		}},
	}
	ct, err := Compile("acme", wire.Entra, tc)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func bySubject(msgs []received) map[string]received {
	out := map[string]received{}
	for _, m := range msgs {
		out[m.Subject] = m
	}
	return out
}

func groupNames(u scim.User) []string {
	var out []string
	gs, _ := u["groups"].([]any)
	for _, g := range gs {
		out = append(out, g.(map[string]any)["display"].(string))
	}
	return out
}

// Channels receive only the groups their rules allow; leaving a channel's scope (losing the group, or a dynamic
// group being revoked) still reaches that channel; a deletion reaches the channels the user was published to.
func TestRoutingPruningScopeExitAndDelete(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := entraTenant(t)
	src := &listSource{typ: wire.Entra}

	src.set(entraUser("u1", "ada@example.com", "Engineer", "App1_Users", "Sales"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	got := bySubject(bus.messages(t, 0))
	if len(got) != 2 {
		t.Fatalf("want a message on ENTRA.APP1 and ENTRA.ALL, got %v", got)
	}
	if g := groupNames(got["ENTRA.APP1"].User); len(g) != 1 || g[0] != "App1_Users" {
		t.Errorf("APP1 must see only its group, got %v", g)
	}
	if g := groupNames(got["ENTRA.ALL"].User); len(g) != 2 {
		t.Errorf("ALL must see both groups, got %v", g)
	}
	if got["ENTRA.APP1"].InitiatedByUPN != "admin@example.com" {
		t.Errorf("initiatedByUpn not carried: %+v", got["ENTRA.APP1"].Message)
	}

	// A dynamic adds an App1 group: both channels see it, with an add operation.
	src.set(entraUser("u1", "ada@example.com", "Senior Consultant", "App1_Users", "Sales"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	got = bySubject(bus.messages(t, 2))
	if g := groupNames(got["ENTRA.APP1"].User); len(g) != 2 {
		t.Fatalf("the dynamic group must reach APP1, got %v", g)
	}
	// dynamicIds is routing data for stream rules, not a SCIM attribute: a strict endpoint would reject it.
	if _, ok := got["ENTRA.APP1"].User["dynamicIds"]; ok {
		t.Errorf("dynamicIds reached the message: %v", got["ENTRA.APP1"].User)
	}

	// Losing every App1 group (title change revokes the dynamic, group removed): APP1 gets its scope exit.
	src.set(entraUser("u1", "ada@example.com", "Engineer", "Sales"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	got = bySubject(bus.messages(t, 4))
	exit, ok := got["ENTRA.APP1"]
	if !ok || exit.ActivityOperation != wire.ModifyUser || len(groupNames(exit.User)) != 0 {
		t.Fatalf("APP1 must receive a modifyUser without groups when the user leaves its scope, got %+v", got)
	}
	removed := false
	for _, op := range exit.Operations {
		if op.Op == "remove" && op.Path == "groups" {
			removed = true
		}
	}
	if !removed {
		t.Errorf("scope exit must carry a remove of groups, got %+v", exit.Operations)
	}

	// Further changes no longer reach APP1.
	src.set(entraUser("u1", "ada@example.com", "Staff Engineer", "Sales"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	got = bySubject(bus.messages(t, 6))
	if _, ok := got["ENTRA.APP1"]; ok || len(got) != 1 {
		t.Fatalf("out of scope, APP1 must get nothing; got %v", got)
	}

	// Hard delete: deleteUser on the channel the user is in.
	src.set(Record{ID: "u1", Removed: true})
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	got = bySubject(bus.messages(t, 7))
	if len(got) != 1 || got["ENTRA.ALL"].ActivityOperation != wire.DeleteUser || got["ENTRA.ALL"].User["userName"] != "ada@example.com" {
		t.Fatalf("want one deleteUser on ALL, got %+v", got)
	}
	if us, _ := bus.state.User(ctx, "u1"); us != nil {
		t.Error("a deleted user must be forgotten")
	}
}

// A user who changes back to an earlier value gets a new message: the de-duplication window never swallows a
// real change.
func TestFlipBackIsPublished(t *testing.T) {
	bus := newTestBus(t)
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := hrTenant(t)
	src := &listSource{typ: wire.HR}
	for i, title := range []string{"A", "B", "A", "B"} {
		src.set(person("1", "G", "F", title))
		if _, err := p.Collect(context.Background(), ten, src, false); err != nil {
			t.Fatal(err)
		}
		if n := len(bus.messages(t, 0)); n != i+1 {
			t.Fatalf("after change %d (%s) the stream holds %d messages", i+1, title, n)
		}
	}
}

// An Entra full resync that no longer lists a user means the user was deleted during the gap: deleteUser on the
// channels the user was published to, and the state forgets the user.
func TestEntraFullResyncDeletesVanishedUsers(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := entraTenant(t)
	src := &listSource{typ: wire.Entra, full: true}
	src.set(entraUser("u1", "ada@example.com", "Engineer", "App1_Users"), entraUser("u2", "alan@example.com", "Engineer"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	before := bus.lastSeq(t)
	src.set(entraUser("u1", "ada@example.com", "Engineer", "App1_Users"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	got := bus.messages(t, before)
	if len(got) != 1 || got[0].Subject != "ENTRA.ALL" || got[0].ActivityOperation != wire.DeleteUser || got[0].TargetID != "u2" {
		t.Fatalf("want one deleteUser of u2 on ENTRA.ALL, got %+v", got)
	}
	if us, err := bus.state.User(ctx, "u2"); err != nil || us != nil {
		t.Fatalf("u2 must be forgotten: %+v %v", us, err)
	}
	if us, err := bus.state.User(ctx, "u1"); err != nil || us == nil {
		t.Fatalf("u1 must be kept: %v", err)
	}
}

// Message ids are those of json.Marshal'd views, whatever encoder made them: a collection repeated after an
// upgrade still finds its earlier messages de-duplicated.
func TestMessageIDsHashJSONMarshal(t *testing.T) {
	bus := newTestBus(t)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z")}
	ten := entraTenant(t)
	src := &listSource{typ: wire.Entra}
	src.set(entraUser("u1", "ada@example.com", "Senior Consultant <R&D>", "App1_Users", "Sales"))
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	us, err := bus.state.User(ctx, "u1")
	if err != nil || us == nil {
		t.Fatalf("state: %v %v", us, err)
	}
	src.set(Record{ID: "u1", Removed: true})
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		t.Fatal(err)
	}
	msgs := bus.messages(t, 0)
	if len(msgs) != 4 {
		t.Fatalf("want 2 creates and 2 deletes, got %d messages", len(msgs))
	}
	null, _ := json.Marshal(nil)
	for _, m := range msgs {
		user, err := json.Marshal(m.User)
		if err != nil {
			t.Fatal(err)
		}
		channel := strings.TrimPrefix(m.Subject, "ENTRA.")
		want := messageID(ten, channel, "u1", m.ActivityOperation, 0, "", null, user)
		if m.ActivityOperation == wire.DeleteUser {
			want = messageID(ten, channel, "u1", m.ActivityOperation, us.Revision, "", user, null)
		}
		if m.MsgID != want {
			t.Errorf("%s %s: Msg-Id %s, want %s", m.Subject, m.ActivityOperation, m.MsgID, want)
		}
	}
}
