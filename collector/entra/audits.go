package entra

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/scim-stream/scim-stream/collector"
)

type directoryAudit struct {
	ID                  string    `json:"id"`
	ActivityDisplayName string    `json:"activityDisplayName"`
	ActivityDateTime    time.Time `json:"activityDateTime"`
	InitiatedBy         struct {
		User *struct {
			ID                string `json:"id"`
			UserPrincipalName string `json:"userPrincipalName"`
		} `json:"user"`
		App *struct {
			DisplayName string `json:"displayName"`
		} `json:"app"`
	} `json:"initiatedBy"`
	TargetResources []struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"targetResources"`
}

// attribution is the newest audit row about a user not yet attached to an emitted change.
type attribution struct {
	id, upn string
	at      time.Time
}

// attributionTTL bounds how long an audit row waits for the change it describes: a row about a property the
// tenant does not collect never meets one and must not be attached to a later, unrelated change.
const attributionTTL = 10 * time.Minute

// auditLog polls /auditLogs/directoryAudits with an overlapping window (rows appear out of order and late) and
// de-duplicates rows by id.
type auditLog struct {
	since time.Time
	seen  map[string]time.Time
	who   map[string]attribution
	// emitted remembers when a user's change was emitted without an initiator: a row about that change that
	// shows up later must not be attached to the user's next change.
	emitted map[string]time.Time
	// floor is the start of the last full sync: rows up to it describe changes the snapshot already holds.
	floor time.Time
}

func (a *auditLog) reset(since time.Time) {
	a.since = since
	a.seen = map[string]time.Time{}
	a.who = map[string]attribution{}
	a.emitted = map[string]time.Time{}
}

// pollAudits reads audit rows since the watermark, remembers the initiator of each change and returns the
// applications whose role assignments changed. When the audit API's budget has no room it skips this round
// rather than delay the collection: the watermark stays, so the next poll reads the rows.
func (s *Source) pollAudits(ctx context.Context, now time.Time) (set, error) {
	a := &s.audits
	if r := s.c.audit.Reserve(); r.Delay() > 0 {
		r.Cancel()
		s.log.Debug("directory audit poll deferred to stay within Graph's audit API budget")
		return nil, nil
	}
	from := a.since
	filter := "activityDateTime ge " + from.UTC().Format(time.RFC3339)
	u := "/auditLogs/directoryAudits?$top=999&$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
	refresh := set{}
	var err error
	for first := true; u != "" && err == nil; first = false {
		if !first {
			// Further pages of a busy log wait for the budget.
			if err = s.c.audit.Wait(ctx); err != nil {
				break
			}
		}
		var p page[directoryAudit]
		if err = s.c.get(ctx, u, &p); err != nil {
			break
		}
		u = p.NextLink
		for _, r := range p.Value {
			if _, dup := a.seen[r.ID]; dup {
				continue
			}
			a.seen[r.ID] = r.ActivityDateTime
			var by attribution
			if r.InitiatedBy.User != nil {
				by = attribution{id: r.InitiatedBy.User.ID, upn: r.InitiatedBy.User.UserPrincipalName, at: r.ActivityDateTime}
			} else {
				by = attribution{at: r.ActivityDateTime}
			}
			roleChange := strings.Contains(strings.ToLower(r.ActivityDisplayName), "app role assignment")
			for _, t := range r.TargetResources {
				switch {
				case strings.EqualFold(t.Type, "User") || strings.EqualFold(t.Type, "Group"):
					// Rows about a group stand for the users a nesting or a group's role assignment changed.
					if at, ok := a.emitted[t.ID]; ok && !by.at.After(at) || !by.at.After(a.floor) {
						continue // describes a change already published
					}
					if prev, ok := a.who[t.ID]; !ok || !prev.at.After(by.at) {
						a.who[t.ID] = by
					}
				case roleChange && strings.EqualFold(t.Type, "ServicePrincipal"):
					add(refresh, t.ID)
				}
			}
		}
	}
	if err != nil {
		return refresh, err
	}
	a.since = now.Add(-s.opts.AuditLookback)
	for id, at := range a.seen {
		if at.Before(a.since) {
			delete(a.seen, id)
		}
	}
	for id, w := range a.who {
		if now.Sub(w.at) > attributionTTL {
			delete(a.who, id)
		}
	}
	for id, at := range a.emitted {
		if now.Sub(at) > attributionTTL {
			delete(a.emitted, id)
		}
	}
	return refresh, nil
}

// known reports whether the audit log named who made a user's change (directly, or through cause).
func (a *auditLog) known(id, cause string) bool {
	if _, ok := a.who[id]; ok {
		return true
	}
	_, ok := a.who[cause]
	return cause != "" && ok
}

// attribute fills who and when of a record from the audit log. A user's own row is consumed; a row about the
// group or principal the change came through (cause) serves every user below it. now is when the change was
// seen in the delta query.
func (a *auditLog) attribute(rec *collector.Record, now time.Time, cause string) {
	w, ok := a.who[rec.ID]
	if ok {
		delete(a.who, rec.ID)
	} else if cause != "" {
		w, ok = a.who[cause]
	}
	if !ok {
		a.emitted[rec.ID] = now
		if cause != "" {
			a.emitted[cause] = now
		}
		return
	}
	rec.InitiatedByID, rec.InitiatedByUPN, rec.ActivityDateTime = w.id, w.upn, w.at
}
