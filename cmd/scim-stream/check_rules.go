package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/dynamics"
	"github.com/scim-stream/scim-stream/rules"
)

func init() {
	checkSteps = append(checkSteps, checkRules)
}

// checkRules compiles every tenant's stream rules, dynamics and do_initial_load_filter and reports each problem
// as file:line: key: column N: problem.
func checkRules(cfgPath string, c *config.Config) []error {
	var out []error
	for _, kind := range []struct {
		name    string
		tenants map[string]*config.Tenant
	}{{"entra", c.Entra}, {"hr", c.HR}} {
		names := make([]string, 0, len(kind.tenants))
		for n := range kind.tenants {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t := kind.tenants[n]
			prefix := fmt.Sprintf("%s.%s", kind.name, n)
			_, err := rules.Compile(t.Streams)
			out = append(out, ruleErrors(cfgPath, prefix, err)...)
			_, err = dynamics.Compile(t.Dynamics)
			out = append(out, ruleErrors(cfgPath, prefix, err)...)
			if f := t.General.DoInitialLoadFilter; f != "" {
				if _, err := rules.CompileFilter(f); err != nil {
					for _, e := range ruleErrors(cfgPath, prefix+".general.do_initial_load_filter", err) {
						if ce, ok := e.(*config.Error); ok && ce.Line == 0 {
							ce.Line = keyLine(cfgPath, kind.name, n, "general", "do_initial_load_filter")
						}
						out = append(out, e)
					}
				}
			}
		}
	}
	return out
}

// keyLine is the line of the key at path in the YAML file, or 0 (e.g. when the value came from the environment).
func keyLine(file string, path ...string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n := doc.Content[0]
	for _, key := range path {
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				if key == path[len(path)-1] {
					return n.Content[i].Line
				}
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return 0
}

func ruleErrors(cfgPath, prefix string, err error) []error {
	if err == nil {
		return nil
	}
	var list rules.Errors
	if !errors.As(err, &list) {
		var one *rules.Error
		if !errors.As(err, &one) {
			return []error{&config.Error{File: cfgPath, Path: prefix, Msg: err.Error()}}
		}
		list = rules.Errors{one}
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
