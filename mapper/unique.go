package mapper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Uniqueness is the registry GetUniqueValue claims values in (collector.State implements it over JetStream KV).
// Reserve claims value under attribute for owner when it is free and returns true; it returns true again when
// owner already holds the value, and false when another owner does. It must be atomic: two concurrent callers
// never both get true for one value.
type Uniqueness interface {
	Reserve(ctx context.Context, attribute, value, owner string) (bool, error)
}

// Resumer is an optional interface of a Uniqueness registry that remembers which candidates are taken, so that
// GetUniqueValue does not walk again, candidate by candidate, through a run of values it already knows belong to
// other owners. With the name pools of a large company, short values such as sAMAccountName "smijo01" have
// hundreds of holders; without resuming, mapping the n-th John Smith costs n candidate evaluations.
//
// A series is named by its attribute and its first candidate (attempt 0). Resuming is only correct when every
// skipped candidate belongs to another owner, so a registry returns 0 whenever owner may hold one of them (a user
// remapped as new after a crash must get back the value it already holds, not a new one).
type Resumer interface {
	// Resume returns the attempt to start at for owner in the series whose first candidate is first, and the
	// candidate the series had at attempt-1 (the mapper compares it with its own before skipping, so a different
	// expression that happens to share the first candidate is never skipped on). 0 means start at the beginning.
	Resume(attribute, first, owner string) (attempt int, previous string)
	// Taken records that value, the candidate of the given attempt in the series starting with first, is held:
	// refused because another owner holds it, or granted to the owner that asked (for everyone else it is taken).
	Taken(attribute, first string, attempt int, value string)
}

// MaxAttempts bounds the candidates GetUniqueValue tries before giving up.
const MaxAttempts = 10000

// Memory is an in-process Uniqueness for tests and one-shot tools; values compare case-insensitively, like the
// KV-backed registry. It implements Resumer.
type Memory struct {
	mu     sync.Mutex
	owners map[string]string
	held   map[string]bool // attribute + "\x00" + owner: the owner holds some value of the attribute
	series Series
}

// NewMemory returns an empty in-memory registry.
func NewMemory() *Memory {
	return &Memory{owners: map[string]string{}, held: map[string]bool{}, series: Series{}}
}

// Reserve implements Uniqueness.
func (m *Memory) Reserve(_ context.Context, attribute, value, owner string) (bool, error) {
	k := attribute + "\x00" + strings.ToLower(value)
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.owners[k]; ok {
		return o == owner, nil
	}
	m.owners[k] = owner
	m.held[attribute+"\x00"+owner] = true
	return true, nil
}

// Resume implements Resumer: Memory knows every holder, so it resumes for any owner that holds no value of the
// attribute.
func (m *Memory) Resume(attribute, first, owner string) (int, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held[attribute+"\x00"+owner] {
		return 0, ""
	}
	return m.series.Resume(attribute, first)
}

// Taken implements Resumer.
func (m *Memory) Taken(attribute, first string, attempt int, value string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.series.Taken(attribute, first, attempt, value)
}

// Series is the bookkeeping of a Resumer: per series, how many leading candidates are taken in a row, and the
// last of them. It is not safe for concurrent use (registries hold it under their lock). Deciding whether an
// owner may hold one of the taken values is the registry's part.
type Series map[string]SeriesRun

// SeriesRun is the taken prefix of one series: attempts 0 … Next-1, the last one being Last.
type SeriesRun struct {
	Next int
	Last string
}

func seriesKey(attribute, first string) string { return attribute + "\x00" + strings.ToLower(first) }

// Resume returns where the taken prefix of the series ends and its last value.
func (s Series) Resume(attribute, first string) (int, string) {
	r := s[seriesKey(attribute, first)]
	return r.Next, r.Last
}

// Taken extends the taken prefix when attempt is the next one (a taken value after a gap says nothing about the
// gap, so it is not recorded).
func (s Series) Taken(attribute, first string, attempt int, value string) {
	k := seriesKey(attribute, first)
	if r := s[k]; r.Next == attempt {
		s[k] = SeriesRun{Next: attempt + 1, Last: value}
	}
}

// ErrNoUniqueValue is returned when every candidate is taken.
var ErrNoUniqueValue = errors.New("no free value")

// unique evaluates GetUniqueValue: candidates for attempt 0, 1, … (Increment gives the attempt's suffix) until
// the registry grants one to this owner. Without an Increment there is one candidate only.
func (c *evalCtx) unique(gu *call) (any, error) {
	if c.opts.Unique == nil {
		return nil, fmt.Errorf("GetUniqueValue: no uniqueness registry (Options.Unique is nil)")
	}
	if c.opts.Owner == "" {
		return nil, fmt.Errorf("GetUniqueValue: Options.Owner is empty: the source id owns the value it gets")
	}
	hasIncrement := false
	walk(gu.args[0], func(n node) {
		if cc, ok := n.(*call); ok && cc.fn.name == "Increment" {
			hasIncrement = true
		}
	})
	saved := c.attempt
	defer func() { c.attempt = saved }()
	candidate := func(attempt int) (string, bool, error) {
		c.attempt = attempt
		v, err := gu.args[0].eval(c)
		if err != nil || v == nil {
			return "", false, err
		}
		s, err := toText(v)
		if err != nil {
			return "", false, fmt.Errorf("GetUniqueValue: %w", err)
		}
		return s, true, nil
	}
	resumer, _ := c.opts.Unique.(Resumer)
	if !hasIncrement {
		resumer = nil
	}
	var first, last string
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		if err := c.ctx.Err(); err != nil {
			return nil, err
		}
		s, ok, err := candidate(attempt)
		if err != nil || !ok {
			return nil, err
		}
		if attempt == 0 && resumer != nil {
			first = s
			if next, previous := resumer.Resume(c.attribute, first, c.opts.Owner); next > 0 && next < MaxAttempts {
				// Skip only when this record's candidate before the resume point is the one taken there: then
				// it is the same series, and every skipped candidate belongs to another owner.
				p, ok, err := s, true, error(nil)
				if next > 1 {
					p, ok, err = candidate(next - 1)
				}
				if err == nil && ok && strings.EqualFold(p, previous) {
					if s, ok, err = candidate(next); err != nil || !ok {
						return nil, err
					}
					attempt = next
				}
			}
		}
		last = s
		ok, err = c.opts.Unique.Reserve(c.ctx, c.attribute, s, c.opts.Owner)
		if err != nil {
			return nil, fmt.Errorf("GetUniqueValue %s %q: %w", c.attribute, s, err)
		}
		if resumer != nil && (!ok || attempt > 0) {
			// Granted or refused, the value is held now: the next owner of the series starts after it. A first
			// candidate granted at once starts no run: most values never meet a namesake, and remembering each
			// would cost memory per user (a namesake is refused on it and starts the run then).
			resumer.Taken(c.attribute, first, attempt, s)
		}
		if ok {
			return s, nil
		}
		if !hasIncrement {
			return nil, fmt.Errorf("GetUniqueValue %s %q: %w: the value belongs to another user and the expression has no Increment(…) to try others", c.attribute, s, ErrNoUniqueValue)
		}
	}
	return nil, fmt.Errorf("GetUniqueValue %s: %w after %d candidates (last %q)", c.attribute, ErrNoUniqueValue, MaxAttempts, last)
}
