package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// safety is what a collection keeps for the safety rules: the mass-change guard, the integrity of a full source,
// and bad records (records without an id, duplicate ids).
type safety struct {
	guard *guard
	// unkeyed counts records without a usable id: any of them may be a person the state knows, so nobody is
	// treated as a leaver by this collection.
	unkeyed int
	// incomplete is the source's report of a partial read (or the pipeline's, for unkeyed records).
	incomplete *IncompleteError
	// dups are the ids this collection saw more than once (HR), with their positions; knownDups the ids the
	// previous collections found duplicated, whose records wait for the end of the collection (pendingDup).
	dups       map[string][]int
	knownDups  map[string]bool
	pendingDup map[string]heldRecord
	// back keeps HR changes until the source listed everybody (duplicates.go).
	back heldBack
}

type heldRecord struct {
	rec Record
	pos int
}

// cpDuplicates holds the ids found duplicated by the last collection (a JSON array).
const cpDuplicates = "pipeline.duplicate-ids"

func (r *collection) startSafety(ctx context.Context) error {
	var err error
	if r.guard, err = newGuard(ctx, r); err != nil {
		return err
	}
	r.dups = map[string][]int{}
	r.knownDups = map[string]bool{}
	r.pendingDup = map[string]heldRecord{}
	if r.t.Type == wire.HR {
		b, err := r.p.State.Checkpoints().Get(ctx, cpDuplicates)
		if err != nil {
			return err
		}
		var ids []string
		if len(b) > 0 && json.Unmarshal(b, &ids) == nil {
			for _, id := range ids {
				r.knownDups[id] = true
			}
		}
	}
	return nil
}

// drain is what a source's checkpoint write waits for: every record emitted before it processed, and the
// leavers among them published or held (an Entra delta link must not get ahead of a deletion).
func (r *collection) drain(ctx context.Context) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	if err := r.releaseHeldBack(ctx); err != nil {
		return err
	}
	return r.guard.settle(ctx)
}

// integrity turns a source's IncompleteError into a collection that publishes what it read but is not full,
// and makes a full collection with records that had no id incomplete.
func (r *collection) integrity(full bool, err error) (bool, error) {
	if ie := incomplete(err); ie != nil {
		r.incomplete = ie
		return false, nil
	}
	if err == nil && full && r.unkeyed > 0 {
		r.mu.Lock()
		seen := r.stats.Seen
		r.mu.Unlock()
		r.incomplete = &IncompleteError{Reason: fmt.Sprintf("%d records without a usable id were skipped", r.unkeyed), Read: seen, Announced: -1}
		return false, nil
	}
	return full, err
}

// finishSafety settles the leavers, processes the records of known duplicate ids that came once this time,
// records the hold and the duplicate ids, and reports what an operator must know.
func (r *collection) finishSafety(ctx context.Context, src Source) error {
	if err := r.pendingDuplicates(ctx); err != nil {
		return err
	}
	if err := r.guard.settle(ctx); err != nil {
		return err
	}
	hold, err := r.guard.finish(ctx, r.p.now())
	if err != nil {
		return err
	}
	if r.t.Type == wire.HR {
		if err := r.storeDuplicates(ctx); err != nil {
			return err
		}
	}
	var warnings []error
	if ie := r.incomplete; ie != nil {
		attrs := []any{"reason", ie.Reason, "read", ie.Read, "announced", ie.Announced}
		if ie.Err != nil {
			attrs = append(attrs, "error", ie.Err)
		}
		r.log.Error("collection incomplete: joiners and changes read are published, nobody is treated as a leaver", attrs...)
		r.p.Metrics.incompleteCollection(r.t)
		warnings = append(warnings, ie)
	}
	r.p.Metrics.guardState(r.t, hold, r.guard.released)
	if hold != nil {
		he := &HeldError{Tenant: r.t.Name, Type: r.t.Type, Hold: *hold}
		r.log.Error(he.Error(), "leavers", hold.Leavers, "known_users", hold.Known, "held_since", hold.Since)
		r.count(func(s *Stats) { s.Held = hold.Leavers })
		warnings = append(warnings, he)
		// A source that forgets what it emitted (an Entra delta link moves on) repeats in full next time, so the
		// held deletions are found again.
		if f, ok := src.(interface{ RequestFull() }); ok {
			f.RequestFull()
		}
	}
	r.count(func(s *Stats) { s.Warning = errors.Join(warnings...) })
	return nil
}

// changeGuarded is change, with a deactivation deferred to the mass-change guard.
func (r *collection) changeGuarded(ctx context.Context, key string, prev *UserState, user scim.User, rec Record) error {
	if isLeaver(prev, user) {
		deferred, err := r.guard.defer_(ctx, func(ctx context.Context) error { return r.change(ctx, key, prev, user, rec) })
		if deferred || err != nil {
			return err
		}
	}
	return r.change(ctx, key, prev, user, rec)
}

// removeGuarded is remove, deferred to the mass-change guard.
func (r *collection) removeGuarded(ctx context.Context, key string, prev *UserState, rec Record) error {
	if prev != nil {
		deferred, err := r.guard.defer_(ctx, func(ctx context.Context) error { return r.remove(ctx, key, prev, rec) })
		if deferred || err != nil {
			return err
		}
	}
	return r.remove(ctx, key, prev, rec)
}

// duplicate handles an HR id seen a second time in one collection: a data error in the source. Neither record is
// published (the first one's change is kept back until the source listed everybody: duplicates.go) and the id is
// remembered, so the next collections publish neither record while both remain.
func (r *collection) duplicate(key string, first, pos int) error {
	r.back.dupMu.Lock()
	if len(r.dups[key]) == 0 {
		r.dups[key] = []int{first}
	}
	r.dups[key] = append(r.dups[key], pos)
	r.back.dupMu.Unlock()
	delete(r.pendingDup, key)
	r.count(func(s *Stats) { s.Failed++ })
	r.p.Metrics.duplicateRecord(r.t)
	r.log.Error("duplicate id: two records of the source carry the same id; neither is published and the user stays as last published (fix the HR data)",
		"user", key, "first_record", first, "second_record", pos)
	return nil
}

// knownDuplicate keeps back the record of an id found duplicated before, until the collection knows whether it
// comes once (published at the end) or again (neither is published).
func (r *collection) knownDuplicate(key string, rec Record) bool {
	if !r.knownDups[key] {
		return false
	}
	r.mu.Lock()
	pos := r.stats.Seen
	r.mu.Unlock()
	r.pendingDup[key] = heldRecord{rec: rec, pos: pos}
	return true
}

// pendingDuplicates processes the records of formerly duplicated ids that came once in this collection.
func (r *collection) pendingDuplicates(ctx context.Context) error {
	keys := make([]string, 0, len(r.pendingDup))
	for k := range r.pendingDup {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		rec := r.pendingDup[key].rec
		r.log.Info("id no longer duplicated: its record is processed again", "user", key)
		if err := r.work.submit(ctx, func() error {
			var prev *UserState
			if r.known {
				var err error
				if prev, err = r.p.State.User(ctx, key); err != nil {
					return err
				}
			}
			return r.process(ctx, key, prev, rec)
		}); err != nil {
			return err
		}
	}
	clear(r.pendingDup)
	return r.flush(ctx)
}

// storeDuplicates remembers the ids duplicated in this collection for the next one.
func (r *collection) storeDuplicates(ctx context.Context) error {
	if len(r.dups) == 0 && len(r.knownDups) == 0 {
		return nil
	}
	ids := make([]string, 0, len(r.dups))
	for k := range r.dups {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	var b []byte
	if len(ids) > 0 {
		b, _ = json.Marshal(ids)
	}
	return r.p.State.Checkpoints().Put(ctx, cpDuplicates, b)
}

// routingFailed handles a user whose rules or dynamics could not be evaluated (a regex match timed out): nothing
// is published and the state is not advanced, so the user keeps its previous state and the next collection
// tries again.
func (r *collection) routingFailed(key string, err error) error {
	r.count(func(s *Stats) { s.Failed++ })
	r.p.Metrics.routingTimeout(r.t)
	attrs := []any{"user", key, "error", err}
	var te *rules.TimeoutError
	if errors.As(err, &te) {
		attrs = append(attrs, "channel", te.Channel, "rule", te.Pattern)
	}
	r.log.Error("routing failed for this user in this collection; it keeps its previous state and is retried", attrs...)
	return nil
}
