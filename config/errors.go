package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one configuration problem. File is the file as given (or the environment variable that set the
// value), Line is 1-based or 0 when unknown, Path is the dotted key path (arrays as [i]). Msg never contains a
// secret value.
type Error struct {
	File string
	Line int
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList collects every problem found; Load returns it rather than stopping at the first.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// sort orders by file position so output reads top to bottom; problems without a line come last.
func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		return a.Line < b.Line
	})
}

// Masked is Error() with the registered secrets masked in the message only. The file, line and key path never hold
// a secret, and masking them would garble a key that happens to equal a weak secret (a password "password").
func (e *Error) Masked() string {
	c := *e
	c.Msg = MaskSecrets(e.Msg)
	return c.Error()
}

// MaskedLines renders err for printing, one line per problem: the entries of an ErrorList (or a single *Error)
// through Masked, any other error with every registered secret masked.
func MaskedLines(err error) []string {
	if err == nil {
		return nil
	}
	if l, ok := IsErrorList(err); ok {
		out := make([]string, len(l))
		for i, e := range l {
			out[i] = e.Masked()
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []string{e.Masked()}
	}
	return []string{MaskSecrets(err.Error())}
}
