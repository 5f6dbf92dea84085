package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/scim-stream/scim-stream/config"
)

// Error is one problem in a filter. Key names the filter in the configuration ("streams[1].rules[0].filter"),
// empty for a filter compiled on its own; Line is the filter's line in the configuration file (0 when unknown);
// Column is 1-based, in characters of the filter text (0 when the problem is the filter as a whole).
type Error struct {
	Key string
	// Channel is the stream's channel name for a stream rule, so the message names what the operator knows.
	Channel string
	Line    int
	Column  int
	Msg     string
}

func (e *Error) Error() string {
	var parts []string
	if e.Key != "" {
		parts = append(parts, e.KeyText())
	}
	var pos []string
	if e.Line > 0 {
		pos = append(pos, fmt.Sprintf("line %d", e.Line))
	}
	if e.Column > 0 {
		pos = append(pos, fmt.Sprintf("column %d", e.Column))
	}
	if len(pos) > 0 {
		parts = append(parts, strings.Join(pos, ", "))
	}
	parts = append(parts, e.Msg)
	return strings.Join(parts, ": ")
}

// KeyText is Key with the channel, e.g. `streams[1].rules[0].filter (channel APP2)`.
func (e *Error) KeyText() string {
	if e.Channel == "" {
		return e.Key
	}
	return fmt.Sprintf("%s (channel %s)", e.Key, e.Channel)
}

// Errors is every problem found by Compile, in configuration order. Callers that report per line (scim-stream
// check) take it apart with errors.As.
type Errors []*Error

func (l Errors) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// at names a filter error after the configuration key and line it came from.
func at(err error, key string, line int) *Error {
	if e, ok := err.(*Error); ok {
		c := *e
		c.Key, c.Line = key, line
		return &c
	}
	return &Error{Key: key, Line: line, Msg: err.Error()}
}

// ConfigErrors turns an error of Compile, dynamics.Compile or CompileFilter for the tenant key path prefix
// (entra.<tenant>, or the filter's own key) into one *config.Error per problem: file:line: key: column N: problem.
func ConfigErrors(cfgPath, prefix string, err error) []error {
	if err == nil {
		return nil
	}
	var list Errors
	if !errors.As(err, &list) {
		var one *Error
		if !errors.As(err, &one) {
			return []error{&config.Error{File: cfgPath, Path: prefix, Msg: err.Error()}}
		}
		list = Errors{one}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		path := prefix
		if e.Key != "" {
			path += "." + e.KeyText()
		}
		msg := e.Msg
		if e.Column > 0 {
			msg = fmt.Sprintf("column %d: %s", e.Column, msg)
		}
		out = append(out, &config.Error{File: cfgPath, Line: e.Line, Path: path, Msg: msg})
	}
	return out
}
