package collector

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/health"
)

// DefaultRetryBudget is how many consecutive collections of a tenant may fail before the tenant (and so the
// process) is reported not ready: one failure is normal (a source's short outage, throttling) and is repeated at
// the next run; a tenant that keeps failing needs an operator.
const DefaultRetryBudget = 3

// Tenant states in /readyz.
const (
	// StateNotStarted: the tenant's configuration does not compile; it never ran (fix it and save the file).
	StateNotStarted = "not started"
	// StateStarting: the tenant's connection to the broker (its stream and state bucket) is being set up.
	StateStarting = "starting"
	// StateCollecting: running, and no collection has ended yet.
	StateCollecting = "collecting"
	// StateOK: the last collection succeeded.
	StateOK = "ok"
	// StateFailing: the last collection failed; ready while the consecutive failures stay within the budget.
	StateFailing = "failing"
)

// loopHealth is what a running tenant's loop reports.
type loopHealth struct {
	phase atomic.Pointer[string]
	track health.Tracker
}

func (h *loopHealth) setPhase(s string) { h.phase.Store(&s) }

// Health is the /readyz check of the collectors: one part per configured tenant, including those that did not
// start. A tenant is ready while it runs and its consecutive failed collections stay below the retry budget.
func (r *Runner) Health() []health.Part {
	budget := r.RetryBudget
	if budget <= 0 {
		budget = DefaultRetryBudget
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []health.Part
	for id, l := range r.loops {
		p := health.Part{Kind: "tenant", Name: id, Detail: map[string]any{"retry_budget": budget}}
		l.health.track.Fill(&p)
		if f, ok := r.failed[id]; ok {
			// The tenant runs on its previous configuration; the saved one did not compile.
			p.Detail["configuration_not_applied"] = config.MaskSecrets(f.err.Error())
		}
		switch phase := l.health.phase.Load(); {
		case phase == nil || *phase == StateStarting:
			p.State = StateStarting
		case p.Failures > 0:
			p.State, p.Ready = StateFailing, p.Failures < budget
		case p.LastSuccess == nil:
			p.State, p.Ready = StateCollecting, true
		default:
			p.State, p.Ready = StateOK, true
		}
		parts = append(parts, p)
	}
	for id, f := range r.failed {
		if _, running := r.loops[id]; running {
			continue // running on its previous configuration: the loop's part says how it does
		}
		at := f.at.UTC()
		// The body is not written through the log's masking handler: mask registered secrets here.
		parts = append(parts, health.Part{Kind: "tenant", Name: id, State: StateNotStarted,
			LastError: config.MaskSecrets(f.err.Error()), LastErrorAt: &at})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Name < parts[j].Name })
	return parts
}

// failedStart is a tenant whose configuration did not compile when it was to start.
type failedStart struct {
	err error
	at  time.Time
}

// noteStart records whether the tenant id compiled (err nil) for Health. r.mu is held.
func (r *Runner) noteStart(id string, err error) {
	if err == nil {
		delete(r.failed, id)
		return
	}
	if r.failed == nil {
		r.failed = map[string]failedStart{}
	}
	r.failed[id] = failedStart{err: err, at: time.Now()}
}
