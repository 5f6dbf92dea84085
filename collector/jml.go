package collector

import (
	"time"

	"github.com/scim-stream/scim-stream/mapper"
	"github.com/scim-stream/scim-stream/scim"
)

// lifecycle applies the HR joiner-mover-leaver rules to a mapped user: a person is not published before
// startDate - preActivateDays (visible=false), is active from then on, and inactive after endDate. The result is
// recomputed at every collection, so a date that passes with no change in the source still produces its message.
// Dates are compared by calendar day in UTC: an endDate of 2026-11-30 means the person works that day.
// An HR system that says a person is inactive (mapped active:false) keeps them inactive whatever the dates say.
func lifecycle(u scim.User, now time.Time, preActivateDays int) (visible bool) {
	today := now.UTC().Truncate(24 * time.Hour)
	if start, ok := mapper.ParseDate(u["startDate"]); ok {
		activation := start.UTC().Truncate(24*time.Hour).AddDate(0, 0, -preActivateDays)
		if today.Before(activation) {
			return false
		}
	}
	// An explicit active:false from the mapping (an HR status field) wins over the dates.
	active := u["active"] != false
	if end, ok := mapper.ParseDate(u["endDate"]); ok && today.After(end.UTC().Truncate(24*time.Hour)) {
		active = false
	}
	u["active"] = active
	return true
}
