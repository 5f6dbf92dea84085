package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Environment overrides: SCIM-STREAM_<PATH>=value (as documented) or SCIM_STREAM_<PATH>=value (what a shell can
// export). <PATH> is the key path upper-cased, '_' between keys, keys' own underscores dropped (CLIENTSECRET),
// list elements as CLIENTS[0] or, for shells that cannot export a name with '[', CLIENTS_0. The documentation's
// spelling without the AUTH level (SCIM-STREAM_ENTRA_MYCOMPANY_OAUTH_CLIENTS[0]_CLIENTSECRET) is accepted as well. SCIM-STREAM_VAULTFILE names a
// file of NAME=value lines applied the same way, before the environment (so the environment wins).

var envPrefixes = []string{"SCIM-STREAM_", "SCIM_STREAM_"}

// override is one NAME=value from the environment or the vault file.
type override struct {
	name  string // without prefix
	full  string // as written, for messages
	value string
	from  origin
}

// environ is os.Environ, replaceable in tests.
var environ = os.Environ

func (l *loader) applyOverrides(root *yaml.Node) {
	var env, vault []override
	vaultFile := ""
	for _, kv := range environ() {
		name, value, _ := strings.Cut(kv, "=")
		rest, ok := cutPrefix(name)
		if !ok {
			continue
		}
		if strings.EqualFold(rest, "VAULTFILE") {
			vaultFile = value
			continue
		}
		env = append(env, override{name: rest, full: name, value: value, from: origin{file: "environment " + name}})
	}
	if vaultFile != "" {
		var err error
		if vault, err = readVault(vaultFile); err != nil {
			l.errs = append(l.errs, &Error{File: vaultFile, Msg: err.Error() + " (named by SCIM-STREAM_VAULTFILE)"})
		}
	}
	for _, o := range append(vault, env...) {
		if err := l.applyOverride(root, o); err != nil {
			l.errs = append(l.errs, &Error{File: o.from.file, Line: o.from.line, Msg: err.Error()})
		}
	}
}

func cutPrefix(name string) (string, bool) {
	for _, p := range envPrefixes {
		if len(name) > len(p) && strings.EqualFold(name[:len(p)], p) {
			return name[len(p):], true
		}
	}
	return "", false
}

// readVault reads NAME=value lines; blank lines and # comments are skipped, "export " and quotes are allowed.
func readVault(path string) ([]override, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the vault file: %w", err)
	}
	var out []override
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		rest, okp := cutPrefix(name)
		if !ok || !okp {
			return out, fmt.Errorf("line %d: expected SCIM-STREAM_<KEY>=value", n)
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		out = append(out, override{name: rest, full: name, value: value, from: origin{file: path, line: n}})
	}
	return out, sc.Err()
}

// token is one '_'-separated part of a variable name, with its optional [index].
type token struct {
	name  string
	index int // -1 when none
}

func tokenize(name string) ([]token, error) {
	var out []token
	for _, p := range strings.Split(name, "_") {
		t := token{name: strings.ToUpper(p), index: -1}
		if i := strings.IndexByte(p, '['); i >= 0 {
			if !strings.HasSuffix(p, "]") {
				return nil, fmt.Errorf("bad list index in %q", p)
			}
			n, err := strconv.Atoi(p[i+1 : len(p)-1])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("bad list index in %q", p)
			}
			t.name, t.index = strings.ToUpper(p[:i]), n
		}
		if t.name == "" {
			return nil, fmt.Errorf("empty key in the name")
		}
		out = append(out, t)
	}
	return out, nil
}

// normKey is how a YAML key is spelled in a variable name.
func normKey(k string) string {
	return strings.ToUpper(strings.NewReplacer("_", "", "-", "").Replace(k))
}

// matchTokens returns how many tokens (1..) spell key; 0 when none. Both sides drop '-' and '_', so a tenant
// "my-company" is MYCOMPANY or MY-COMPANY and "my_company" is MYCOMPANY or MY_COMPANY in a variable name.
func matchTokens(toks []token, key string) int {
	want := normKey(key)
	var b strings.Builder
	for i, t := range toks {
		b.WriteString(normKey(t.name))
		if b.String() == want {
			return i + 1
		}
		if t.index >= 0 || b.Len() >= len(want) {
			return 0
		}
	}
	return 0
}

var (
	tenantType = reflect.TypeFor[Tenant]()
	authType   = reflect.TypeFor[Auth]()
)

// applyOverride walks the variable's tokens through the types and the tree, creating what is missing.
func (l *loader) applyOverride(root *yaml.Node, o override) error {
	toks, err := tokenize(o.name)
	if err != nil {
		return err
	}
	n, t := root, reflect.TypeFor[Config]()
	path := ""
	for len(toks) > 0 {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		var key string
		var k int
		switch t.Kind() {
		case reflect.Struct:
			f, used := structField(t, toks)
			if used == 0 && t == tenantType {
				// the documentation's spelling leaves out the auth level
				if af, aused := structField(authType, toks); aused > 0 {
					n = mapChild(n, "auth")
					path = joinPath(path, "auth")
					f, used = af, aused
				}
			}
			if used == 0 {
				return fmt.Errorf("%s does not name a configuration key: no key %q under %q", o.full, strings.ToLower(toks[0].name), pathOrRoot(path))
			}
			key, k, t = yamlName(f), used, f.Type
		case reflect.Map:
			key, k = mapKey(n, toks, tenantNames(root))
			t = t.Elem()
		default:
			return fmt.Errorf("%s does not name a configuration key: %q is a single value", o.full, path)
		}
		if n.Kind != yaml.MappingNode && !isNull(n) {
			return fmt.Errorf("%s: %q is not a mapping in the file", o.full, path)
		}
		n = mapChild(n, key)
		path = joinPath(path, key)
		idx := toks[k-1].index
		toks = toks[k:]
		if i, ok := listIndexToken(t, idx, toks); ok {
			idx, toks = i, toks[1:]
		}
		if idx >= 0 {
			for t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			if t.Kind() != reflect.Slice {
				return fmt.Errorf("%s: %q is not a list", o.full, path)
			}
			if isNull(n) {
				*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: n.Line, Column: n.Column}
			}
			if n.Kind != yaml.SequenceNode {
				return fmt.Errorf("%s: %q is not a list in the file", o.full, path)
			}
			if idx > len(n.Content) {
				return fmt.Errorf("%s: %s has %d elements, index %d would leave a gap", o.full, path, len(n.Content), idx)
			}
			if idx == len(n.Content) {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"})
			}
			n, t = n.Content[idx], t.Elem()
			path = fmt.Sprintf("%s[%d]", path, idx)
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice:
		if !reflect.PointerTo(t).Implements(unmarshalerType) {
			return fmt.Errorf("%s names the section %q, not a value", o.full, path)
		}
	}
	*n = yaml.Node{Kind: yaml.ScalarNode, Value: o.value}
	if t.Kind() == reflect.String {
		n.Tag = "!!str" // "0123" stays a string, a password stays a password
	}
	l.origin[n] = o.from
	return nil
}

// listIndexToken reads CLIENTS_0_CLIENTSECRET's "0" as the list index of CLIENTS: a name with '[' is not
// valid for bash's or dash's export, nor for a Kubernetes env entry or a systemd Environment= line, so a list
// element may also be spelt with its index as a key of its own. It applies when t (the key just matched) is a
// list, no [index] was given, and the next token is a number (no configuration key is one).
func listIndexToken(t reflect.Type, idx int, toks []token) (int, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if idx >= 0 || t.Kind() != reflect.Slice || len(toks) == 0 || toks[0].index >= 0 {
		return 0, false
	}
	n, err := strconv.Atoi(toks[0].name)
	if err != nil || n < 0 || strconv.Itoa(n) != toks[0].name {
		return 0, false
	}
	return n, true
}

func pathOrRoot(p string) string {
	if p == "" {
		return "the top level"
	}
	return p
}

// structField finds the field spelled by the first tokens.
func structField(t reflect.Type, toks []token) (reflect.StructField, int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name := yamlName(f); name != "" {
			if k := matchTokens(toks, name); k > 0 {
				return f, k
			}
		}
	}
	return reflect.StructField{}, 0
}

// mapKey matches an existing key of mapping n case-insensitively (tenant names are in the variable name
// upper-cased); a new key takes the spelling of a tenant with that name (nats.publisher.<tenant>), else the
// lower-cased first token.
func mapKey(n *yaml.Node, toks []token, tenants []string) (string, int) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := matchTokens(toks, n.Content[i].Value); k > 0 {
				return n.Content[i].Value, k
			}
		}
	}
	for _, t := range tenants {
		if k := matchTokens(toks, t); k > 0 {
			return t, k
		}
	}
	return strings.ToLower(toks[0].name), 1
}

// tenantNames lists the entra and hr tenant keys of the document.
func tenantNames(root *yaml.Node) []string {
	var out []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i].Value; k == "entra" || k == "hr" {
			if m := root.Content[i+1]; m.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(m.Content); j += 2 {
					out = append(out, m.Content[j].Value)
				}
			}
		}
	}
	return out
}

// mapChild returns the value node of key in mapping n, adding a null entry (and turning a null n into a
// mapping) when missing.
func mapChild(n *yaml.Node, key string) *yaml.Node {
	if isNull(n) {
		*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	n.Content = append(n.Content, k, v)
	return v
}
