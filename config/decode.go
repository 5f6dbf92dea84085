package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The schema walk checks the YAML tree against the Go types before decoding, so that every unknown key and every
// badly typed value is reported with its key path and line, and decoding of everything else still goes ahead
// (yaml.v3 alone would stop at, or garble, the first problem).

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// yamlName returns a struct field's YAML key ("" when the field is not decoded).
func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	if tag == "-" || !f.IsExported() {
		return ""
	}
	if name, _, _ := strings.Cut(tag, ","); name != "" {
		return name
	}
	return strings.ToLower(f.Name)
}

// fieldByKey finds the struct field decoded from key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// setNull turns n into a YAML null in place so the final decode skips it.
func setNull(n *yaml.Node) {
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: n.Line, Column: n.Column}
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// walk checks n against type t at path, recording each node by path and reporting problems.
func (l *loader) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		l.nodes[path] = n
	}
	if isNull(n) {
		return
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			l.errNode(n, path, yamlMsg(err))
			setNull(n)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		l.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.errNode(n, path, "must be a mapping of keys, not "+describe(n))
			setNull(n)
			return
		}
		for i := 0; i+1 < len(n.Content); {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				l.errNode(k, joinPath(path, k.Value), fmt.Sprintf("unknown key %q%s", k.Value, suggest(t, k.Value)))
				n.Content = append(n.Content[:i], n.Content[i+2:]...)
				continue
			}
			l.keys[joinPath(path, k.Value)] = k
			l.walk(v, f.Type, joinPath(path, k.Value))
			i += 2
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			l.errNode(n, path, "must be a mapping, not "+describe(n))
			setNull(n)
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			l.keys[joinPath(path, k.Value)] = k
			l.walk(v, t.Elem(), joinPath(path, k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.errNode(n, path, "must be a list, not "+describe(n))
			setNull(n)
			return
		}
		for i, e := range n.Content {
			l.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Interface:
		// any YAML value is fine (dynamic assignments)
	default:
		if n.Kind != yaml.ScalarNode {
			l.errNode(n, path, "must be a single value, not "+describe(n))
			setNull(n)
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			l.errNode(n, path, leafMsg(t, n, path))
			setNull(n)
		}
	}
}

// leafMsg explains a scalar of the wrong type; it quotes the value unless the key holds a secret.
func leafMsg(t reflect.Type, n *yaml.Node, path string) string {
	v := strconv.Quote(n.Value)
	if IsSecretKey(lastKey(path)) {
		v = "the value"
	}
	switch t.Kind() {
	case reflect.Bool:
		return v + " must be true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v + " must be a whole number"
	case reflect.Float64, reflect.Float32:
		return v + " must be a number"
	}
	return v + " must be a " + t.Kind().String()
}

// yamlMsg strips yaml.v3's "yaml: unmarshal errors:\n  line N: " framing from a decode error.
func yamlMsg(err error) string {
	var msgs []string
	if te, ok := err.(*yaml.TypeError); ok {
		for _, e := range te.Errors {
			if _, rest, ok := strings.Cut(e, ": "); ok && strings.HasPrefix(e, "line ") {
				e = rest
			}
			msgs = append(msgs, e)
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

func lastKey(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	return path
}

// suggest names the known key that differs only by case, underscores or a near spelling.
func suggest(t reflect.Type, key string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if name := yamlName(t.Field(i)); name != "" {
			keys = append(keys, name)
			if norm(name) == norm(key) {
				return fmt.Sprintf(" (did you mean %q?)", name)
			}
		}
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(keys, ", "))
}
