package mapper

import (
	"errors"
	"strings"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// CheckConfig compiles every tenant's mapper of a loaded configuration, offline, and returns each problem as a
// *config.Error (file:line: entra.<tenant>.mapper.user: "<source>" (map_to "<attr>"): column N: what was
// expected).
func CheckConfig(cfgPath string, c *config.Config) []error {
	var out []error
	for k, t := range c.Tenants() {
		if t == nil {
			continue
		}
		kind, _ := wire.ParseType(k.Kind) // a configuration section: entra or hr
		_, err := Compile(kind, t.Mapper)
		out = append(out, ConfigErrors(cfgPath, k.String()+".mapper", err)...)
	}
	return out
}

// ConfigErrors turns an error of Compile for the mapper at key (entra.<tenant>.mapper) into one *config.Error
// per problem, with the line of the mapping and the key of its section.
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
