package rules

import (
	"fmt"
	"strings"

	"github.com/dlclark/regexp2"
)

// probes are values on which a backtracking regex with nested or overlapping repetition, such as (a+)+$ or
// (\w*\w*\s*)*Q, takes exponential time: long runs of one character class followed by a character that makes
// the match fail. A pattern that does not finish within MatchTimeout on one of them would time out on real
// values too, and a timed-out match is no answer: such a pattern is refused where it is compiled (check and run
// alike), naming its place.
var probes = []string{
	strings.Repeat("a", 48) + "!",
	strings.Repeat("a", 48),
	strings.Repeat("0", 48) + "!",
	strings.Repeat(" ", 48) + "!",
	strings.Repeat("a ", 24) + "!",
	strings.Repeat("aA0_-.@ ", 6) + "\n",
}

// probe runs re on the probes and reports a time-out as an error.
func probe(src string, re *regexp2.Regexp) error {
	for _, in := range probes {
		if _, err := re.MatchString(in); err != nil {
			return fmt.Errorf("regular expression %q does not finish within %s on a %d-character value (catastrophic backtracking: "+
				"repetition inside repetition such as (\\w*)* or (a+)+, or alternatives that overlap); rewrite it without nested "+
				"repetition, e.g. .*Manager.* instead of (\\w*\\s*)*Manager", src, MatchTimeout, len(in))
		}
	}
	return nil
}
