package collector

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// A rule or dynamic whose regex match times out fails that user's routing for the collection: nothing is
// published, the user keeps its previous state, the error names tenant, channel, rule and user, and the next
// collection (with a value the rule can answer) publishes normally.
func TestRegexTimeoutFailsRoutingOfThatUser(t *testing.T) {
	for _, c := range []struct {
		name    string
		streams []config.Stream
		dyn     []config.Dynamic
		want    []string
	}{
		{"rule", []config.Stream{{Channel: "SF", Rules: []config.Filter{{Filter: `(user.title -match "(x+x+)+y")`}, {Filter: "(.*)"}}}}, nil,
			[]string{"channel=SF", "rule=(x+x+)+y", "user=1", "tenant=acme"}},
		{"dynamic", []config.Stream{{Channel: "SF", Rules: []config.Filter{{Filter: "(.*)"}}}},
			[]config.Dynamic{{DynamicID: "dyn-x", Rules: []config.Filter{{Filter: `(user.title -match "(x+x+)+y")`}},
				Assignments: []config.Assignment{{Path: "user.groups", Value: []any{map[string]any{"display": "X", "value": "X"}}}}}},
			[]string{"dynamic dyn-x", "user=1", "tenant=acme"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bus := newTestBus(t)
			ctx := context.Background()
			var log bytes.Buffer
			p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z"),
				Log: slog.New(slog.NewTextHandler(&log, nil))}
			ten := hrTenant(t, c.streams...)
			ten.Config.Dynamics = c.dyn
			ten, err := Compile("acme", wire.HR, ten.Config)
			if err != nil {
				t.Fatal(err)
			}
			src := &listSource{typ: wire.HR, full: true}
			src.set(person("1", "A", "B", "Clerk"), person("2", "C", "D", "Clerk"))
			if _, err := p.Collect(ctx, ten, src, false); err != nil {
				t.Fatal(err)
			}
			before := bus.lastSeq(t)
			src.set(person("1", "A", "B", strings.Repeat("x", 64)), person("2", "C", "D", "Head Clerk"))
			stats, err := p.Collect(ctx, ten, src, false)
			if err != nil || stats.Failed != 1 {
				t.Fatalf("%v %s", err, stats)
			}
			msgs := bus.messages(t, before)
			if len(msgs) != 1 || msgs[0].TargetID != "2" {
				t.Fatalf("want only user 2's change, got %+v", msgs)
			}
			if us, _ := bus.state.User(ctx, "1"); us == nil || us.User["title"] != "Clerk" {
				t.Fatalf("user 1 must keep its previous state: %+v", us)
			}
			line := ""
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, "routing failed") {
					line = l
				}
			}
			for _, w := range append(c.want, "level=ERROR") {
				if !strings.Contains(line, w) {
					t.Errorf("the error line lacks %s:\n%s", w, log.String())
				}
			}
			src.set(person("1", "A", "B", "Senior Clerk"), person("2", "C", "D", "Head Clerk"))
			if _, err := p.Collect(ctx, ten, src, false); err != nil {
				t.Fatal(err)
			}
			if msgs := bus.messages(t, before+1); len(msgs) != 1 || msgs[0].TargetID != "1" || msgs[0].User["title"] != "Senior Clerk" {
				t.Fatalf("retried: want user 1's change, got %+v", msgs)
			}
		})
	}
}
