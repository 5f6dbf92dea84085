//go:build npmdiff

package scim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

func genOp(r *rand.Rand) Operation {
	w := func() string { return genWords[r.IntN(len(genWords))] }
	ty := func() string { return genTypes[r.IntN(len(genTypes))] }
	switch r.IntN(12) {
	case 0:
		return Operation{Op: []string{"add", "replace"}[r.IntN(2)], Path: []string{"userName", "title", "nickName"}[r.IntN(3)], Value: w()}
	case 1:
		return Operation{Op: []string{"add", "replace"}[r.IntN(2)], Path: []string{"name.givenName", "name.familyName"}[r.IntN(2)], Value: w()}
	case 2:
		return Operation{Op: "remove", Path: []string{"title", "nickName", "name.givenName", "emails"}[r.IntN(4)]}
	case 3:
		return Operation{Op: "add", Path: "emails", Value: []any{map[string]any{"type": ty(), "value": w()}}}
	case 4:
		return Operation{Op: "remove", Path: fmt.Sprintf(`emails[type eq %q]`, ty())}
	case 5:
		return Operation{Op: "remove", Path: fmt.Sprintf(`emails[value eq %q]`, w())}
	case 6:
		return Operation{Op: "replace", Path: fmt.Sprintf(`emails[type eq %q].value`, ty()), Value: w()}
	case 7:
		return Operation{Op: []string{"add", "replace"}[r.IntN(2)], Value: map[string]any{"title": w(), "name.givenName": w()}}
	case 8:
		return Operation{Op: "replace", Path: "n", Value: float64(r.IntN(100))}
	case 9:
		return Operation{Op: "replace", Path: "name", Value: map[string]any{"familyName": w()}}
	case 10:
		return Operation{Op: "replace", Path: "emails", Value: []any{map[string]any{"type": ty(), "value": w()}}}
	}
	return Operation{Op: "replace", Path: "active", Value: r.IntN(2) == 0}
}

func TestDifferentialPatch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type tc struct {
		res map[string]any
		ops []Operation
	}
	var tcs []tc
	var cases []map[string]any
	for range 2000 {
		res := genResource(r)
		var ops []Operation
		for range 1 + r.IntN(4) {
			ops = append(ops, genOp(r))
		}
		tcs = append(tcs, tc{res, ops})
		cases = append(cases, map[string]any{"resource": res, "ops": ops})
	}
	results := runNPM(t, cases)
	mismatches, theyRefuse := 0, 0
	for i, c := range tcs {
		ours, err := ApplyPatch(c.res, c.ops)
		ops, _ := json.Marshal(c.ops)
		switch {
		case results[i].Error != "" && err != nil:
		case results[i].Error != "":
			theyRefuse++ // our Entra-compatible leniency
			if theyRefuse <= 3 {
				t.Logf("only we accept %s: scim-patch says %s", ops, results[i].Error)
			}
		case err != nil:
			mismatches++
			t.Errorf("%s: we refuse (%v), scim-patch applies it", ops, err)
		case !Equal(dropEmpty(ours), dropEmpty(results[i].Result)):
			mismatches++
			if mismatches <= 10 {
				a, _ := json.Marshal(ours)
				b, _ := json.Marshal(results[i].Result)
				in, _ := json.Marshal(c.res)
				t.Errorf("%s on %s:\n ours      %s\n scim-patch %s", ops, in, a, b)
			}
		}
	}
	t.Logf("%d cases, %d that only we accept", len(tcs), theyRefuse)
	if mismatches > 0 {
		t.Errorf("%d of %d disagree", mismatches, len(tcs))
	}
}

// dropEmpty removes empty objects: scim-patch leaves "name":{} after removing the last sub-attribute, we drop
// the attribute; both mean unassigned (RFC 7643 §2.5).
func dropEmpty(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok && len(sub) == 0 {
			continue
		}
		out[k] = v
	}
	return out
}
