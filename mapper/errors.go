package mapper

import (
	"fmt"
	"strings"
)

// Error is a mapping that does not compile. It names the mapping as written in the configuration, its line
// (0 for built-in defaults and environment values), the column in the source expression (1-based, in characters;
// 0 when the whole mapping is at fault) and what was expected.
type Error struct {
	Section string // "mapper.user", "mapper.group" or "mapper.rules"
	Source  string
	MapTo   string
	Line    int
	Column  int
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.MapTo != "" {
		fmt.Fprintf(&b, "%s %q (map_to %q): ", e.Section, e.Source, e.MapTo)
	} else {
		fmt.Fprintf(&b, "%s %q: ", e.Section, e.Source)
	}
	if e.Column > 0 {
		fmt.Fprintf(&b, "column %d: ", e.Column)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// syntaxError is a parse failure inside one expression, positioned by byte offset; Compile turns it into Error.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }
