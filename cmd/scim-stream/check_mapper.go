package main

import (
	"errors"
	"fmt"
	"sort"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/mapper"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	checkSteps = append(checkSteps, checkMappers)
}

// checkMappers compiles every tenant's mapper and reports each broken mapping as file:line: key: problem.
func checkMappers(cfgPath string, c *config.Config) []error {
	var out []error
	for _, kind := range []struct {
		name    wire.Type
		tenants map[string]*config.Tenant
	}{{wire.Entra, c.Entra}, {wire.HR, c.HR}} {
		names := make([]string, 0, len(kind.tenants))
		for n := range kind.tenants {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			_, err := mapper.Compile(kind.name, kind.tenants[n].Mapper)
			if err == nil {
				continue
			}
			prefix := fmt.Sprintf("%s.%s", kind.name.Key(), n)
			for _, e := range flatten(err) {
				var me *mapper.Error
				if errors.As(e, &me) {
					msg := me.Msg
					if me.Column > 0 {
						msg = fmt.Sprintf("column %d: %s", me.Column, msg)
					}
					what := fmt.Sprintf("%s.%s %q", prefix, me.Section, me.Source)
					if me.MapTo != "" {
						what += fmt.Sprintf(" (map_to %q)", me.MapTo)
					}
					out = append(out, &config.Error{File: cfgPath, Line: me.Line, Path: what, Msg: msg})
					continue
				}
				out = append(out, &config.Error{File: cfgPath, Path: prefix + ".mapper", Msg: e.Error()})
			}
		}
	}
	return out
}

// flatten unpacks errors.Join trees into their leaves.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
