package config

import "fmt"

// Defaults of general.guard: a collection that would deactivate or delete more than 10 % of a tenant's known
// users and more than 20 users is held (the thresholds of Entra's accidental-deletions prevention, in spirit).
const (
	DefaultGuardPercent = 10.0
	DefaultGuardLeavers = 20
)

// Guard is general.guard, the mass-change guard of one tenant. A collection whose leavers (users it would
// deactivate or delete) exceed both bounds is held: its leavers are not published until the source is fixed or
// `scim-stream release` lets them through. A bound of 0 is no bound (the other alone decides); both 0 turn the
// guard off.
type Guard struct {
	// MaxLeaversPercent is the share of the tenant's known users, in percent (default 10).
	MaxLeaversPercent float64 `yaml:"max_leavers_percent"`
	// MaxLeavers is the number of users (default 20).
	MaxLeavers int `yaml:"max_leavers"`
}

// Off reports whether the guard is disabled (both bounds 0).
func (g Guard) Off() bool { return g.MaxLeaversPercent == 0 && g.MaxLeavers == 0 }

// Exceeded reports whether leavers out of known users exceed every bound that is set.
func (g Guard) Exceeded(leavers, known int) bool {
	if g.Off() || leavers == 0 {
		return false
	}
	if g.MaxLeavers > 0 && leavers <= g.MaxLeavers {
		return false
	}
	if g.MaxLeaversPercent > 0 && float64(leavers)*100 <= g.MaxLeaversPercent*float64(known) {
		return false
	}
	return true
}

// String describes the bounds for log lines and mails.
func (g Guard) String() string {
	switch {
	case g.Off():
		return "off"
	case g.MaxLeavers == 0:
		return fmt.Sprintf("more than %g %% of the known users", g.MaxLeaversPercent)
	case g.MaxLeaversPercent == 0:
		return fmt.Sprintf("more than %d users", g.MaxLeavers)
	}
	return fmt.Sprintf("more than %g %% of the known users and more than %d users", g.MaxLeaversPercent, g.MaxLeavers)
}

func (l *loader) validateGuard(p string, g Guard) {
	if g.MaxLeaversPercent < 0 || g.MaxLeaversPercent > 100 {
		l.errAt(p+".max_leavers_percent", fmt.Sprintf("%g must be between 0 and 100 (percent of the tenant's users; default %g; 0 = no percentage bound)", g.MaxLeaversPercent, DefaultGuardPercent))
	}
	if g.MaxLeavers < 0 {
		l.errAt(p+".max_leavers", fmt.Sprintf("%d must not be negative (users; default %d; 0 = no count bound)", g.MaxLeavers, DefaultGuardLeavers))
	}
}
