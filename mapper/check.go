package mapper

import (
	"errors"
	"slices"
	"strings"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// CheckConfig compiles every tenant's mapper of a loaded configuration, offline, and returns each problem as a
// *config.Error (file:line: entra.<tenant>.mapper.user: "<source>" (map_to "<attr>"): column N: what was
// expected). It has the signature of the check command's steps: checkSteps = append(checkSteps, mapper.CheckConfig).
func CheckConfig(cfgPath string, c *config.Config) []error {
	var out []error
	for _, kind := range []wire.Type{wire.Entra, wire.HR} {
		tenants := c.Entra
		if kind == wire.HR {
			tenants = c.HR
		}
		names := make([]string, 0, len(tenants))
		for n := range tenants {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			t := tenants[n]
			if t == nil {
				continue
			}
			_, err := Compile(kind, t.Mapper)
			for _, e := range flatten(err) {
				ce := &config.Error{File: cfgPath, Path: kind.Key() + "." + n + ".mapper"}
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
		}
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
