package collector

import (
	"reflect"

	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// Planned is what one channel gets for a change of one user: the router's decision, the message's operation and
// its PATCH operations, and whether a message is published at all.
type Planned struct {
	rules.Delivery
	// Op is the message's activityOperation; "" when the change does not concern the channel.
	Op string
	// Operations turn the channel's previous view into its current one; empty (not nil) for deleteUser.
	Operations []scim.Operation
	// Publish is true when the channel gets a message.
	Publish bool
}

// Plan decides what every channel of router gets, in configuration order, when a user changes from prev to cur;
// cur nil means the user was removed. It is the collector's decision, pure, so that `scim-stream route` shows
// exactly what the pipeline publishes:
//   - a removal sends deleteUser, with the user as the channel saw it, to every channel the user was in;
//   - a change concerns the channels the user matches now or matched before (leaving a channel's scope still
//     sends one message, with the groups and roles lost); it is createUser where the channel had no previous view
//     of the user and modifyUser otherwise, and is published only when the channel's view changed, or always
//     when reload is set (an initial load republishes everybody).
//
// fields describe the change for the rules (activityOperation, initiatedBy...).
func Plan(router *rules.Router, prev, cur scim.User, fields rules.Fields, reload bool) []Planned {
	out, _ := PlanErr(router, prev, cur, fields, reload)
	return out
}

// PlanErr is Plan that reports a regex match time-out (rules.TimeoutError): the plan is then not to be published,
// since a channel's answer is unknown.
func PlanErr(router *rules.Router, prev, cur scim.User, fields rules.Fields, reload bool) ([]Planned, error) {
	removed := cur == nil
	deliveries, err := router.RouteErr(prev, cur, fields)
	out := make([]Planned, len(deliveries))
	// The router hands out one map per distinct view of the user, so channels that keep the same groups and
	// roles share their operations: each pair of views is diffed once.
	var diffs []viewDiff
	for i, d := range deliveries {
		p := Planned{Delivery: d}
		switch {
		case removed:
			if d.PreviouslyMatched {
				p.Op, p.Operations, p.Publish = wire.DeleteUser, []scim.Operation{}, true
			}
		case d.Matched || d.PreviouslyMatched:
			p.Op = wire.ModifyUser
			if d.Previous == nil || !d.PreviouslyMatched {
				p.Op = wire.CreateUser
			}
			p.Operations, diffs = diffOnce(diffs, d.Previous, d.Current)
			p.Publish = len(p.Operations) > 0 || reload
		}
		out[i] = p
	}
	return out, err
}

// viewDiff is the diff of one pair of views, by map identity.
type viewDiff struct {
	prev, cur uintptr
	ops       []scim.Operation
}

func diffOnce(done []viewDiff, prev, cur scim.User) ([]scim.Operation, []viewDiff) {
	pid, cid := mapID(prev), mapID(cur)
	for _, d := range done {
		if d.prev == pid && d.cur == cid {
			return d.ops, done
		}
	}
	ops := scim.Diff(prev, cur)
	if ops == nil {
		ops = []scim.Operation{}
	}
	return ops, append(done, viewDiff{pid, cid, ops})
}

func mapID(u scim.User) uintptr { return reflect.ValueOf(u).Pointer() }

// About is what a message says about a change besides the user: whose it is, when and by whom it was made.
type About struct {
	// TargetID is the user's source id (the state key).
	TargetID                      string
	ActivityDateTime              string
	InitiatedByID, InitiatedByUPN string
}

// Message is the message the channel gets (meaningful when p.Publish): the user as the channel sees it now, or
// for deleteUser as it saw it before.
func (p Planned) Message(a About) wire.Message {
	user := p.Current
	if p.Op == wire.DeleteUser {
		user = p.Previous
	}
	userName, _ := user["userName"].(string)
	return wire.Message{
		ActivityOperation: p.Op,
		ActivityDateTime:  a.ActivityDateTime,
		InitiatedByID:     a.InitiatedByID,
		InitiatedByUPN:    a.InitiatedByUPN,
		TargetID:          a.TargetID,
		TargetUPN:         userName,
		Operations:        p.Operations,
		User:              user,
	}
}
