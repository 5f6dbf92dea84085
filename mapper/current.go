package mapper

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/scim-stream/scim-stream/config"
)

// currentRule is `(employmentNav.results -most_current "startDate")`: under that array, [0] means the most
// current element rather than the first.
type currentRule struct {
	index int
	array []step // the array's path
	start []step // start date within an element
	end   []step // end date within an element
}

var mostCurrentRe = regexp.MustCompile(`^\(\s*([^\s()]+)\s+-most_current\s+["“”]([^"“”]+)["“”]\s*\)$`)

// parseRule reads a -most_current filter. The quoted attribute names the SCIM attribute (startDate) whose
// mapping says where an element's start date is (`employmentNav.results.[0].startDate` → `startDate`); the end
// date is found the same way through the endDate mapping. Without such mappings the element fields are named
// like the attributes.
func parseRule(f config.Filter, idx int, user []*mapping) (*currentRule, error) {
	fail := func(msg string) error {
		return &Error{Section: "mapper.rules", Source: f.Filter, Line: f.Line, Msg: msg}
	}
	sm := mostCurrentRe.FindStringSubmatch(strings.TrimSpace(f.Filter))
	if sm == nil {
		return nil, fail(`mapper rules support one form: (<array path> -most_current "<start date attribute>"), e.g. (employmentNav.results -most_current "startDate")`)
	}
	sp, err := parseSourcePath(sm[1], 0)
	if err != nil {
		return nil, fail(fmt.Sprintf("array path %q: %v", sm[1], err))
	}
	for _, s := range sp.steps {
		if s.kind != stepKey {
			return nil, fail(fmt.Sprintf("array path %q: write the array's attribute names only, e.g. employmentNav.results", sm[1]))
		}
	}
	r := &currentRule{index: idx, array: sp.steps}
	r.start = r.field(user, sm[2])
	r.end = r.field(user, "endDate")
	return r, nil
}

// field finds the element-relative path of the mapping that sets attr from inside the array.
func (r *currentRule) field(user []*mapping, attr string) []step {
	for _, m := range user {
		if !strings.EqualFold(m.targetText, attr) {
			continue
		}
		src, ok := m.expr.(sourceRef)
		if !ok {
			continue
		}
		if rest, ok := r.under(src.path.steps); ok && len(rest) > 0 {
			return rest
		}
	}
	return []step{{kind: stepKey, key: attr}}
}

// under returns the steps after the array and its element selector ([0] or an implicit first element).
func (r *currentRule) under(steps []step) ([]step, bool) {
	if len(steps) <= len(r.array) {
		return nil, false
	}
	for i, s := range r.array {
		if steps[i].kind != stepKey || steps[i].key != s.key {
			return nil, false
		}
	}
	rest := steps[len(r.array):]
	if rest[0].kind == stepIndex && rest[0].index == 0 || rest[0].kind == stepCurrent {
		return rest[1:], true
	}
	if rest[0].kind == stepKey {
		return rest, true
	}
	return nil, false
}

// mark rewrites the mappings' source paths so that [0] (or an implicit first element) under the array reads
// the most current element.
func (r *currentRule) mark(user []*mapping) {
	for _, m := range user {
		walk(m.expr, func(n node) {
			src, ok := n.(sourceRef)
			if !ok {
				return
			}
			steps := src.path.steps
			rest, ok := r.under(steps)
			if !ok {
				return
			}
			head := steps[:len(r.array)]
			marked := append(append(append([]step{}, head...), step{kind: stepCurrent, rule: r.index}), rest...)
			src.path.steps = marked
		})
	}
}

// current returns the rule's chosen element of arr, computed once per record: the element whose start date is
// the latest one not in the future and whose end date is not past; if none is current, the one starting
// soonest; if all are past, the one that started last (its end date tells the pipeline the person left).
// Elements without a readable start date are chosen only when no element has one.
func (c *evalCtx) current(rule int, arr []any) any {
	if c.done[rule] {
		return c.chosen[rule]
	}
	c.done[rule] = true
	r := c.m.rules[rule]
	now := c.opts.Now
	var cur, future, past any
	var curStart, futureStart, pastStart time.Time
	for _, e := range arr {
		sv, _ := resolveSteps(c, r.start, e, "")
		s, ok := ParseDate(sv)
		if !ok {
			continue
		}
		ev, _ := resolveSteps(c, r.end, e, "")
		end, hasEnd := ParseDate(ev)
		switch {
		case s.After(now):
			if future == nil || s.Before(futureStart) {
				future, futureStart = e, s
			}
		case hasEnd && end.Before(now):
			if past == nil || s.After(pastStart) {
				past, pastStart = e, s
			}
		default:
			if cur == nil || s.After(curStart) {
				cur, curStart = e, s
			}
		}
	}
	chosen := cur
	if chosen == nil {
		chosen = future
	}
	if chosen == nil {
		chosen = past
	}
	if chosen == nil && len(arr) > 0 {
		chosen = arr[0]
	}
	c.chosen[rule] = chosen
	return chosen
}
