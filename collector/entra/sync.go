package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/scim-stream/scim-stream/collector"
)

// changes is what one round of delta queries returned, fetched completely before anything is applied, so a
// failed fetch leaves the directory as it was.
type changes struct {
	users      []map[string]any
	groups     []groupItem
	deleted    []map[string]any // soft-deleted users (full sync only: a fresh users/delta leaves them out)
	usersLink  string
	groupsLink string
}

func (s *Source) usersURL() string {
	return "/users/delta?$select=" + strings.Join(s.sel, ",")
}

const groupsURL = "/groups/delta?$select=displayName,members"

// fetchDelta runs users/delta and groups/delta side by side from the given links (empty: a fresh sync).
func (s *Source) fetchDelta(ctx context.Context, usersLink, groupsLink string, withDeleted bool) (*changes, error) {
	ch := &changes{}
	if usersLink == "" {
		usersLink = s.usersURL()
	}
	if groupsLink == "" {
		groupsLink = groupsURL
	}
	// The first failure stops the other queries: the round is retried whole anyway.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var gErr, dErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ch.groupsLink, gErr = all(ctx, s.c, groupsLink, func(v []groupItem) error { ch.groups = append(ch.groups, v...); return nil })
		if gErr != nil {
			cancel(gErr)
		}
	}()
	if withDeleted {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, dErr = all(ctx, s.c, "/directory/deletedItems/microsoft.graph.user?$select="+strings.Join(s.sel, ","),
				func(v []map[string]any) error { ch.deleted = append(ch.deleted, v...); return nil })
			if dErr != nil {
				cancel(dErr)
			}
		}()
	}
	var uErr error
	ch.usersLink, uErr = all(ctx, s.c, usersLink, func(v []map[string]any) error { ch.users = append(ch.users, v...); return nil })
	if uErr != nil {
		cancel(uErr)
	}
	wg.Wait()
	// Report the failure that stopped the round, not the cancellations it caused.
	for _, err := range []error{uErr, gErr, dErr} {
		if err != nil && !errors.Is(err, context.Canceled) {
			if isResync(err) {
				return nil, fmt.Errorf("%w: %v", errResync, err)
			}
			return nil, err
		}
	}
	for _, err := range []error{uErr, gErr, dErr} {
		if err != nil {
			if isResync(err) {
				return nil, fmt.Errorf("%w: %v", errResync, err)
			}
			return nil, err
		}
	}
	if ch.usersLink == "" || ch.groupsLink == "" {
		return nil, fmt.Errorf("delta query ended without an @odata.deltaLink")
	}
	return ch, nil
}

// fetchApps reads service principals (all of them, or the given ids) and their role assignments.
func (s *Source) fetchApps(ctx context.Context, ids set) ([]servicePrincipal, map[string][]roleAssignment, error) {
	var sps []servicePrincipal
	_, err := all(ctx, s.c, "/servicePrincipals?$select=id,displayName,appRoles", func(v []servicePrincipal) error {
		for _, sp := range v {
			if _, asked := ids[sp.ID]; (ids == nil || asked) && s.wantApp(sp) {
				sps = append(sps, sp)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list service principals: %w", err)
	}
	out := make(map[string][]roleAssignment, len(sps))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(sps))
	sem := make(chan struct{}, 4) // a few at a time: Graph throttles per application
	for _, sp := range sps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var list []roleAssignment
			_, err := all(ctx, s.c, "/servicePrincipals/"+url.PathEscape(sp.ID)+"/appRoleAssignedTo?$select=appRoleId,principalId,principalType&$top=999",
				func(v []roleAssignment) error { list = append(list, v...); return nil })
			if err != nil {
				errs <- fmt.Errorf("application %q (%s): read app role assignments: %w", sp.DisplayName, sp.ID, err)
				return
			}
			mu.Lock()
			out[sp.ID] = list
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, nil, err
	}
	return sps, out, nil
}

// fullSync rebuilds the directory from fresh delta queries and emits every in-scope user.
func (s *Source) fullSync(ctx context.Context, cp collector.Checkpoints, emit func(collector.Record) error) error {
	start := s.opts.Now()
	var apps []servicePrincipal
	var assigned map[string][]roleAssignment
	var appErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		apps, assigned, appErr = s.fetchApps(ctx, nil)
	}()
	ch, err := s.fetchDelta(ctx, "", "", true)
	<-done
	if err != nil {
		return err
	}
	if appErr != nil {
		return appErr
	}
	// Audit rows up to now describe changes this snapshot already holds: they must not be attributed to later
	// changes. The next poll looks back from here.
	s.audits.reset(start.Add(-s.opts.AuditLookback))
	s.audits.floor = start

	d := newDirectory()
	for _, u := range ch.users {
		d.applyUser(u)
	}
	for _, u := range ch.deleted {
		id, _, _ := d.applyUser(u)
		add(d.softDeleted, id)
		// The recycle bin does not list managers; a resync within the process keeps the one it knew.
		if s.dir != nil {
			if m := s.dir.manager[id]; m != "" {
				d.manager[id] = m
			}
		}
	}
	for _, g := range ch.groups {
		d.applyGroup(g)
	}
	for _, sp := range apps {
		d.setApp(sp, assigned[sp.ID], nil)
	}
	s.dir, s.rolesAt = d, start
	clear(s.held) // the full sync emits them
	s.log.Info("entra full sync fetched", "users", len(d.users), "groups", len(d.groups), "applications", len(d.apps), "took", s.opts.Now().Sub(start))
	for _, id := range sorted(setOf(d.users)) {
		rec, ok := s.record(id)
		if !ok {
			continue
		}
		if err := emit(rec); err != nil {
			return err
		}
	}
	return s.commit(ctx, cp, ch, start)
}

func setOf[V any](m map[string]V) set {
	out := make(set, len(m))
	for k := range m {
		add(out, k)
	}
	return out
}

// commit stores the new sync point; it runs only after emit returned for every record.
func (s *Source) commit(ctx context.Context, cp collector.Checkpoints, ch *changes, issued time.Time) error {
	b, _ := json.Marshal(syncPoint{Users: ch.usersLink, Groups: ch.groupsLink, Issued: issued, AuditSince: s.audits.since})
	if err := cp.Put(ctx, cpKey, b); err != nil {
		return fmt.Errorf("store sync point: %w", err)
	}
	return nil
}

// incremental applies one round of changes. mutated reports whether the in-memory directory was touched (a
// failure after that point must be followed by a full sync).
func (s *Source) incremental(ctx context.Context, cp collector.Checkpoints, sp syncPoint, emit func(collector.Record) error) (mutated bool, err error) {
	start := s.opts.Now()
	ch, err := s.fetchDelta(ctx, sp.Users, sp.Groups, false)
	if err != nil {
		return false, err
	}
	if s.audits.since.IsZero() {
		s.audits.reset(sp.AuditSince)
	}
	refresh, err := s.pollAudits(ctx, start)
	if err != nil {
		s.log.Warn("directory audit log not readable; initiatedBy stays empty and role changes wait for the periodic re-read", "error", err)
	}
	allApps := start.Sub(s.rolesAt) >= s.opts.RoleRefresh
	var apps []servicePrincipal
	var assigned map[string][]roleAssignment
	if allApps || len(refresh) > 0 {
		var ids set
		if !allApps {
			ids = refresh
		}
		if apps, assigned, err = s.fetchApps(ctx, ids); err != nil {
			return false, err
		}
	}

	mutated = true
	d := s.dir
	affected := set{}
	removed := set{}
	for _, u := range ch.users {
		id, _ := u["id"].(string)
		prev := d.users[id]
		wasIn := prev != nil && s.inScope(prev)
		id, kind, renamed := d.applyUser(u)
		if id == "" {
			continue
		}
		add(affected, id)
		if cur := d.users[id]; kind == userRemoved || wasIn && cur != nil && !s.inScope(cur) {
			// Gone, or out of scope now (became a guest, renamed to a skipped prefix): a full sync would no
			// longer list the user either, and the pipeline treats both alike.
			add(removed, id)
		}
		if renamed {
			d.reports(id, affected)
		}
	}
	// cause remembers, for a user changed through a group or an application assignment, the object whose audit
	// row names who made the change (the user has no row of their own then).
	cause := map[string]string{}
	below := func(id string) set {
		users := set{}
		d.principalUsers(id, users)
		for u := range users {
			if _, ok := cause[u]; !ok && u != id {
				cause[u] = id
			}
		}
		return users
	}
	// Group changes: the users below a changed group (before and after the change) are candidates; those whose
	// transitive groups differ, or who hold a renamed group, changed.
	cand := set{}
	for _, g := range ch.groups {
		for u := range below(g.ID) {
			add(cand, u)
		}
	}
	before := make(map[string]string, len(cand))
	for u := range cand {
		before[u] = signature(d.ancestors(u))
	}
	renamedGroups := set{}
	for _, g := range ch.groups {
		if old := d.groups[g.ID]; old != nil && g.DisplayName != nil && *g.DisplayName != old.name {
			add(renamedGroups, g.ID)
		}
		d.applyGroup(g)
	}
	for _, g := range ch.groups {
		for u := range below(g.ID) {
			add(cand, u)
		}
		for _, m := range g.Members {
			if _, isGroup := d.groups[m.ID]; !isGroup && !strings.HasSuffix(m.Type, ".group") {
				add(cand, m.ID) // a removed direct member is no longer below the group
				if _, ok := cause[m.ID]; !ok {
					cause[m.ID] = g.ID
				}
			}
		}
	}
	for u := range cand {
		anc := d.ancestors(u)
		if sig, ok := before[u]; !ok || sig != signature(anc) || intersects(anc, renamedGroups) {
			add(affected, u)
		}
	}
	if apps != nil || allApps {
		touch := func(p string) {
			for u := range below(p) {
				add(affected, u)
			}
		}
		seen := set{}
		for _, a := range apps {
			d.setApp(a, assigned[a.ID], touch)
			add(seen, a.ID)
		}
		for id := range d.apps {
			if _, ok := seen[id]; !ok && (allApps || hasKey(refresh, id)) {
				d.dropApp(id, touch)
			}
		}
		if allApps {
			s.rolesAt = start
		}
	}
	fresh := len(affected)
	pending := affected
	if len(s.held) > 0 {
		pending = maps.Clone(affected)
		for id, h := range s.held {
			add(pending, id)
			if _, ok := cause[id]; !ok && h.cause != "" {
				cause[id] = h.cause
			}
		}
	}
	s.log.Debug("entra incremental round", "users", len(ch.users), "groups", len(ch.groups), "changed", fresh, "held", len(s.held))
	wait := s.opts.AttributionWait
	for _, id := range sorted(pending) {
		h, held := s.held[id]
		gone := hasKey(removed, id) || held && h.removed && !hasKey(affected, id)
		var rec collector.Record
		if gone {
			rec = collector.Record{ID: id, Removed: true}
		} else {
			var ok bool
			if rec, ok = s.record(id); !ok {
				delete(s.held, id)
				continue
			}
		}
		if wait > 0 && !s.audits.known(id, cause[id]) {
			if !held {
				h = heldChange{since: start, cause: cause[id]}
			}
			h.removed = gone
			if start.Sub(h.since) < wait {
				s.held[id] = h
				continue
			}
		}
		delete(s.held, id)
		s.audits.attribute(&rec, start, cause[id])
		if err := emit(rec); err != nil {
			return true, err
		}
	}
	return true, s.commit(ctx, cp, ch, start)
}

func hasKey(s set, k string) bool { _, ok := s[k]; return ok }

// signature identifies a set of group ids.
func signature(s set) string { return strings.Join(sorted(s), ",") }

func intersects(a, b set) bool {
	if len(b) == 0 {
		return false
	}
	for k := range a {
		if hasKey(b, k) {
			return true
		}
	}
	return false
}
