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

// MaxAttempts bounds the candidates GetUniqueValue tries before giving up.
const MaxAttempts = 10000

// Memory is an in-process Uniqueness for tests and one-shot tools; values compare case-insensitively, like the
// KV-backed registry.
type Memory struct {
	mu     sync.Mutex
	owners map[string]string
}

// NewMemory returns an empty in-memory registry.
func NewMemory() *Memory { return &Memory{owners: map[string]string{}} }

// Reserve implements Uniqueness.
func (m *Memory) Reserve(_ context.Context, attribute, value, owner string) (bool, error) {
	k := attribute + "\x00" + strings.ToLower(value)
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.owners[k]; ok {
		return o == owner, nil
	}
	m.owners[k] = owner
	return true, nil
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
	var last string
	for c.attempt = 0; c.attempt < MaxAttempts; c.attempt++ {
		if err := c.ctx.Err(); err != nil {
			return nil, err
		}
		v, err := gu.args[0].eval(c)
		if err != nil || v == nil {
			return v, err
		}
		s, err := toText(v)
		if err != nil {
			return nil, fmt.Errorf("GetUniqueValue: %w", err)
		}
		last = s
		ok, err := c.opts.Unique.Reserve(c.ctx, c.attribute, s, c.opts.Owner)
		if err != nil {
			return nil, fmt.Errorf("GetUniqueValue %s %q: %w", c.attribute, s, err)
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
