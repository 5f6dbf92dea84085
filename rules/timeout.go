package rules

import (
	"errors"
	"fmt"

	"github.com/scim-stream/scim-stream/scim"
)

// TimeoutError is a regex match that did not finish within MatchTimeout. It is no answer: the routing (or the
// dynamic) that needed it fails for this change, and the caller keeps the user's previous state and retries.
type TimeoutError struct {
	// Pattern is the regular expression; Channel the channel being routed ("" for a dynamic or a lone filter).
	Pattern string
	Channel string
	Err     error
}

func (e *TimeoutError) Error() string {
	where := ""
	if e.Channel != "" {
		where = fmt.Sprintf(" (channel %s)", e.Channel)
	}
	return fmt.Sprintf("regular expression %q%s did not finish within %s on this user's value: routing failed, the user keeps "+
		"its previous state and is retried at the next collection; simplify the pattern (no repetition inside repetition)",
		e.Pattern, where, MatchTimeout)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// IsTimeout reports whether err is a regex match time-out.
func IsTimeout(err error) bool {
	var te *TimeoutError
	return errors.As(err, &te)
}

// scratch is the per-call state of an evaluation: the regex engine's rune buffer and the first time-out met.
type scratch struct {
	runes   []rune
	channel string
	timeout *TimeoutError
}

func (sc *scratch) fail(p *pattern, err error) {
	if sc != nil && sc.timeout == nil {
		sc.timeout = &TimeoutError{Pattern: p.src, Channel: sc.channel, Err: err}
	}
}

func (sc *scratch) err() error {
	if sc == nil || sc.timeout == nil {
		return nil
	}
	return sc.timeout
}

// matchSc is match reporting a time-out to sc.
func (p *pattern) matchSc(v string, sc *scratch) bool {
	if p.kind != patRegex || sc == nil {
		return p.match(v)
	}
	ok, err := p.re.MatchString(v)
	if err != nil {
		sc.fail(p, err)
	}
	return ok && err == nil
}

// MatchErr is Match that reports a regex time-out as an error instead of "no match".
func (f *Filter) MatchErr(user scim.User, fields Fields) (bool, error) {
	if user == nil {
		return false, nil
	}
	var sc scratch
	for _, t := range f.terms {
		if !t.matches(user, fields, &sc) {
			return false, sc.err()
		}
	}
	return true, sc.err()
}
