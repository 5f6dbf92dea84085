package rules

import (
	"encoding/json"
	"testing"

	"github.com/scim-stream/scim-stream/scim"
)

// FuzzRoute checks Route's invariants on arbitrary users: it never panics or modifies its input; Matched and
// PreviouslyMatched agree with the filters compiled one by one; a view keeps every attribute but dynamicIds, and
// exactly the groups/roles that referenceView, a plain reading of the pruning rule, keeps.
func FuzzRoute(f *testing.F) {
	r, err := Compile(benchStreams)
	if err != nil {
		f.Fatal(err)
	}
	filters := make([][]*Filter, len(benchStreams))
	for i, s := range benchStreams {
		for _, rule := range s.Rules {
			filters[i] = append(filters[i], mustFilter(f, rule.Filter))
		}
	}
	f.Add(docsUser, `{"userName":"x","groups":[{"display":"App3_1","value":"App1_Group01"}]}`, "Sync_x")
	f.Add(`{"title":"Dog Trainer","groups":[{"display":"App4"}],"emails":[{"type":"work","value":"a@mycompany.com"}]}`, `null`, "")
	f.Add(`{"groups":"x","roles":[1,{"type":"Application 1","value":"Role1"}],"dynamicIds":["dynamic-1"]}`, `{"Groups":[{"VALUE":"App6_Group06"}]}`, "a")
	// The same groups in another order, and one changed: regex answers are reused only for the same text.
	f.Add(`{"groups":[{"display":"app5_group1"},{"display":"App5_Group22","value":"App6_Group06"},{"display":"x"}]}`,
		`{"groups":[{"display":"App5_Group22","value":"App6_Group06"},{"display":"app5_group1"},{"display":"app5_groupX"}]}`, "")
	f.Add(`{"roles":[{"type":"Application 1","value":"Role1"},{"type":"App1","appId":"`+app1ID+`","value":"Role1"}]}`,
		`{"roles":[{"type":"App1","appId":"`+app1ID+`","value":"Role1"},{"type":"Application 1","value":"Role1"}],"title":"Dog Trainer"}`, "Sync_1")
	f.Fuzz(func(t *testing.T, prevJSON, curJSON, upn string) {
		var prev, cur scim.User
		if json.Unmarshal([]byte(prevJSON), &prev) != nil || json.Unmarshal([]byte(curJSON), &cur) != nil {
			return
		}
		before, _ := json.Marshal([]scim.User{prev, cur})
		fields := Fields{"initiatedByUpn": upn}
		ds := r.Route(prev, cur, fields)
		if after, _ := json.Marshal([]scim.User{prev, cur}); string(after) != string(before) {
			t.Fatalf("Route modified its input: %s -> %s", before, after)
		}
		for i, d := range ds {
			want := func(u scim.User) bool {
				for _, flt := range filters[i] {
					if flt.Match(u, fields) {
						return true
					}
				}
				return false
			}
			if d.Matched != want(cur) || d.PreviouslyMatched != want(prev) {
				t.Fatalf("%s: matched %v/%v, filters say %v/%v", d.Channel, d.Matched, d.PreviouslyMatched, want(cur), want(prev))
			}
			if !d.Matched && !d.PreviouslyMatched {
				if d.Previous != nil || d.Current != nil {
					t.Fatalf("%s: views without a match", d.Channel)
				}
				continue
			}
			checkView(t, d.Channel, d.Current, cur)
			checkView(t, d.Channel, d.Previous, prev)
			for _, c := range []struct {
				view, user scim.User
			}{{d.Current, cur}, {d.Previous, prev}} {
				got, _ := json.Marshal(c.view)
				want, _ := json.Marshal(referenceView(filters[i], c.user, fields))
				if string(got) != string(want) {
					t.Fatalf("%s: view %s\nwant %s", d.Channel, got, want)
				}
			}
		}
	})
}

// referenceView prunes a user for one channel the slow and obvious way: every filter the user satisfies adds the
// groups/roles its terms select, (.*) adds all of them, and -exclude terms take theirs out again.
func referenceView(filters []*Filter, u scim.User, fields Fields) scim.User {
	if u == nil {
		return nil
	}
	gKey, groups := elementsOf(u, "groups")
	rKey, roles := elementsOf(u, "roles")
	gIn, gOut := make([]bool, len(groups)), make([]bool, len(groups))
	rIn, rOut := make([]bool, len(roles)), make([]bool, len(roles))
	all := false
	for _, f := range filters {
		if !f.Match(u, fields) {
			continue
		}
		for _, t := range f.terms {
			if t.all {
				all = true
				continue
			}
			elems, in, out := groups, gIn, gOut
			switch t.path.kind {
			case groupsPath:
			case rolesPath:
				elems, in, out = roles, rIn, rOut
			default:
				continue
			}
			for i, e := range elems {
				if t.path.selects(e, t.pat, nil) {
					if t.exclude {
						out[i] = true
					} else {
						in[i] = true
					}
				}
			}
		}
	}
	pick := func(elems []any, in, out []bool) []any {
		kept := []any{}
		for i, e := range elems {
			if (all || in[i]) && !out[i] {
				kept = append(kept, e)
			}
		}
		return kept
	}
	v := scim.User{}
	for k, val := range u {
		v[k] = val
	}
	delete(v, DynamicIDs)
	if groups != nil {
		v[gKey] = pick(groups, gIn, gOut)
	}
	if roles != nil {
		v[rKey] = pick(roles, rIn, rOut)
	}
	return v
}

func checkView(t *testing.T, channel string, view, u scim.User) {
	t.Helper()
	if (view == nil) != (u == nil) {
		t.Fatalf("%s: view %v of user %v", channel, view, u)
	}
	for k, v := range u {
		if k == DynamicIDs {
			if _, ok := view[k]; ok {
				t.Fatalf("%s: view carries dynamicIds", channel)
			}
			continue
		}
		pv, ok := view[k]
		if !ok {
			t.Fatalf("%s: view lost %q", channel, k)
		}
		orig, isList := v.([]any)
		kept, keptList := pv.([]any)
		if !isList || !keptList {
			if !scim.Equal(pv, v) {
				t.Fatalf("%s: %q changed from %v to %v", channel, k, v, pv)
			}
			continue
		}
		// Pruned lists keep a subsequence of the user's elements.
		j := 0
		for _, e := range kept {
			for j < len(orig) && !scim.Equal(orig[j], e) {
				j++
			}
			if j == len(orig) {
				t.Fatalf("%s: %q holds %v, which the user does not have (in that order)", channel, k, e)
			}
			j++
		}
	}
	if len(view) > len(u) {
		t.Fatalf("%s: view has attributes the user lacks: %v", channel, view)
	}
}
