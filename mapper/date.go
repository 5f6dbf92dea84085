package mapper

import (
	"strconv"
	"strings"
	"time"
)

// dateLayouts are the textual date formats HR systems send (ISO date-times with and without zone, ISO dates,
// YYYY/MM/dd and dd/MM/YYYY as documented). Dates without a zone are UTC.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02",
	"2006/01/02",
	"02/01/2006",
}

// ParseDate reads a start or end date in any of the documented formats: unix milliseconds (a number or digits),
// SuccessFactors' /Date(1704067200000)/ (an offset such as /Date(1704067200000+0000)/ is ignored: the
// milliseconds are UTC), RFC 3339, YYYY-MM-dd, YYYY/MM/dd and dd/MM/YYYY. The result is UTC.
func ParseDate(v any) (time.Time, bool) {
	switch x := v.(type) {
	case float64:
		return time.UnixMilli(int64(x)).UTC(), true
	case int64:
		return time.UnixMilli(x).UTC(), true
	case int:
		return time.UnixMilli(int64(x)).UTC(), true
	case time.Time:
		return x.UTC(), true
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return time.Time{}, false
		}
		if strings.HasPrefix(s, "/Date(") && strings.HasSuffix(s, ")/") {
			s = s[len("/Date(") : len(s)-2]
			if i := strings.IndexAny(s, "+-"); i > 0 { // an offset, not a leading minus
				s = s[:i]
			}
			ms, err := strconv.ParseInt(s, 10, 64)
			if err != nil || s[0] == '+' {
				return time.Time{}, false
			}
			return time.UnixMilli(ms).UTC(), true
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil && s[0] != '+' {
			return time.UnixMilli(ms).UTC(), true
		}
		for _, l := range dateLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC(), true
			}
		}
	}
	return time.Time{}, false
}
