package collector

import (
	"testing"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// TestPlan is the decision table the pipeline and `scim-stream route` share: per channel, which operation, which
// PATCH operations, and whether a message is published.
func TestPlan(t *testing.T) {
	router, err := rules.Compile([]config.Stream{
		{Channel: "SALES", Rules: []config.Filter{{Filter: `(user.department -match "^Sales$")`}}},
		{Channel: "ALL", Rules: []config.Filter{{Filter: `(.*)`}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sales := scim.User{"userName": "anna", "department": "Sales", "title": "Rep"}
	promoted := scim.User{"userName": "anna", "department": "Sales", "title": "Lead"}
	moved := scim.User{"userName": "anna", "department": "Finance", "title": "Rep"}
	fields := func(op string) rules.Fields { return rules.Fields{"activityOperation": op} }
	type want struct {
		op      string
		publish bool
		ops     int
	}
	cases := []struct {
		name      string
		prev, cur scim.User
		op        string
		reload    bool
		want      map[string]want
	}{
		{"new user", nil, sales, wire.ModifyUser, false, map[string]want{
			"SALES": {wire.CreateUser, true, 3}, "ALL": {wire.CreateUser, true, 3}}},
		{"change", sales, promoted, wire.ModifyUser, false, map[string]want{
			"SALES": {wire.ModifyUser, true, 1}, "ALL": {wire.ModifyUser, true, 1}}},
		{"no change", sales, sales, wire.ModifyUser, false, map[string]want{
			"SALES": {wire.ModifyUser, false, 0}, "ALL": {wire.ModifyUser, false, 0}}},
		{"no change, initial load", sales, sales, wire.ModifyUser, true, map[string]want{
			"SALES": {wire.ModifyUser, true, 0}, "ALL": {wire.ModifyUser, true, 0}}},
		{"leaves a channel's scope", sales, moved, wire.ModifyUser, false, map[string]want{
			"SALES": {wire.ModifyUser, true, 1}, "ALL": {wire.ModifyUser, true, 1}}},
		// A user entering a channel is created there; the operations are still the change from the previous view.
		{"enters a channel's scope", moved, sales, wire.ModifyUser, false, map[string]want{
			"SALES": {wire.CreateUser, true, 1}, "ALL": {wire.ModifyUser, true, 1}}},
		{"removed", moved, nil, wire.DeleteUser, false, map[string]want{
			"SALES": {"", false, 0}, "ALL": {wire.DeleteUser, true, 0}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := Plan(router, c.prev, c.cur, fields(c.op), c.reload)
			if len(plan) != 2 {
				t.Fatalf("%d channels planned, want 2", len(plan))
			}
			for _, p := range plan {
				w := c.want[p.Channel]
				if p.Op != w.op || p.Publish != w.publish || len(p.Operations) != w.ops {
					t.Errorf("%s: op %q publish %v with %d operations %v, want %q %v %d", p.Channel, p.Op, p.Publish, len(p.Operations), p.Operations, w.op, w.publish, w.ops)
				}
				if !p.Publish {
					continue
				}
				m := p.Message(About{TargetID: "id-1", ActivityDateTime: "2026-01-02T03:04:05Z"})
				user := p.Current
				if p.Op == wire.DeleteUser {
					user = p.Previous
				}
				if m.ActivityOperation != p.Op || m.TargetID != "id-1" || m.TargetUPN != "anna" || m.Operations == nil || !scim.Equal(map[string]any(m.User), map[string]any(user)) {
					t.Errorf("%s: message %+v", p.Channel, m)
				}
			}
		})
	}
}
