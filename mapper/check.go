package mapper

import (
	"errors"
	"strings"

	"github.com/scim-stream/scim-stream/config"
)

// ConfigErrors turns an error of Compile for the mapper at key (entra.<tenant>.mapper) into one *config.Error
// per problem, with the line of the mapping and the key of its section (file:line: entra.<tenant>.mapper.user:
// "<source>" (map_to "<attr>"): column N: what was expected). collector.CheckConfig reports mapper problems with it.
func ConfigErrors(cfgPath, key string, err error) []error {
	var out []error
	for _, e := range flatten(err) {
		ce := &config.Error{File: cfgPath, Path: key}
		var me *Error
		if errors.As(e, &me) {
			ce.Line = me.Line
			ce.Path += "." + strings.TrimPrefix(me.Section, "mapper.")
			me2 := *me
			me2.Line, me2.Section = 0, ""
			ce.Msg = strings.TrimPrefix(me2.Error(), " ")
		} else {
			ce.Msg = e.Error()
		}
		out = append(out, ce)
	}
	return out
}

// flatten unpacks errors.Join.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
