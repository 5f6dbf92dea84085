package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// The types here decode list-shaped YAML that must keep its order and its line numbers.

// UnmarshalYAML decodes `filter: <text>` and remembers the line.
func (f *Filter) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return typeErr(n, "must be a mapping with a filter key")
	}
	*f = Filter{Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value != "filter" {
			return typeErr(k, fmt.Sprintf("unknown key %q (expected filter)", k.Value))
		}
		if v.Kind != yaml.ScalarNode {
			return typeErr(v, "filter must be a string")
		}
		if v.Tag != "!!null" {
			f.Filter = v.Value
		}
		f.Line = v.Line
	}
	return nil
}

// MarshalYAML writes {filter: ...}.
func (f Filter) MarshalYAML() (any, error) { return map[string]string{"filter": f.Filter}, nil }

// UnmarshalYAML decodes one mapper entry `- <source>: {map_to: x}`, including the explicit `? key : value` form.
func (m *Mapping) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return typeErr(n, "must be a single `<source>: {map_to: <SCIM attribute>}` entry")
	}
	k, v := n.Content[0], n.Content[1]
	if k.Kind != yaml.ScalarNode {
		return typeErr(k, "source must be a string")
	}
	*m = Mapping{Source: k.Value, Line: k.Line}
	if v.Kind != yaml.MappingNode {
		return typeErr(v, fmt.Sprintf("%q must have a map_to key", k.Value))
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		kk, vv := v.Content[i], v.Content[i+1]
		if kk.Value != "map_to" {
			return typeErr(kk, fmt.Sprintf("unknown key %q (expected map_to)", kk.Value))
		}
		if vv.Kind != yaml.ScalarNode {
			return typeErr(vv, "map_to must be a string")
		}
		if vv.Tag != "!!null" {
			m.MapTo = vv.Value
		}
	}
	return nil
}

// MarshalYAML writes `<source>: {map_to: x}`.
func (m Mapping) MarshalYAML() (any, error) {
	return map[string]map[string]string{m.Source: {"map_to": m.MapTo}}, nil
}

// UnmarshalYAML decodes a dynamics entry, keeping the order of assignments. Both dynamic_id (the documentation's
// example) and dynamicId (its key table) are accepted.
func (d *Dynamic) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return typeErr(n, "must be a mapping")
	}
	*d = Dynamic{Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "comment":
			if err := v.Decode(&d.Comment); err != nil {
				return err
			}
		case "dynamic_id", "dynamicId":
			if err := v.Decode(&d.DynamicID); err != nil {
				return err
			}
		case "rules":
			if err := v.Decode(&d.Rules); err != nil {
				return err
			}
		case "assignments":
			if v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				return typeErr(v, "assignments must be a mapping of user attributes")
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				ak, av := v.Content[j], v.Content[j+1]
				var val any
				if err := av.Decode(&val); err != nil {
					return err
				}
				d.Assignments = append(d.Assignments, Assignment{Path: ak.Value, Value: val, Line: ak.Line})
			}
		default:
			return typeErr(k, fmt.Sprintf("unknown key %q", k.Value))
		}
	}
	return nil
}

// MarshalYAML writes the entry back with ordered assignments.
func (d Dynamic) MarshalYAML() (any, error) {
	as := &yaml.Node{Kind: yaml.MappingNode}
	for _, a := range d.Assignments {
		var v yaml.Node
		if err := v.Encode(a.Value); err != nil {
			return nil, err
		}
		as.Content = append(as.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: a.Path}, &v)
	}
	return struct {
		Comment     string     `yaml:"comment,omitempty"`
		DynamicID   string     `yaml:"dynamic_id"`
		Rules       []Filter   `yaml:"rules"`
		Assignments *yaml.Node `yaml:"assignments"`
	}{d.Comment, d.DynamicID, d.Rules, as}, nil
}

// UnmarshalYAML accepts the documented comma-separated string or a YAML list.
func (r *Recipients) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*r = nil
		if n.Tag == "!!null" {
			return nil
		}
		for _, a := range strings.Split(n.Value, ",") {
			if a = strings.TrimSpace(a); a != "" {
				*r = append(*r, a)
			}
		}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*r = l
		return nil
	}
	return typeErr(n, "must be a comma-separated string or a list of addresses")
}

// typeErr returns a yaml.TypeError so that yaml.v3 keeps decoding the rest of the document.
func typeErr(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}
