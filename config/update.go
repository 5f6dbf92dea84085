package config

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Change sets the key at Path (e.g. {"entra", "mycompany", "general", "do_initial_load"}) to Value. Value is any
// value yaml.v3 can encode; nil deletes the key; Null writes an explicit null. A numeric element addresses a list
// entry. Values under secret keys are written encrypted.
type Change struct {
	Path  []string
	Value any
}

type nullValue struct{}

// Null as a Change value writes `key: null` (the documented "reverted back to null" of do_initial_load_filter).
var Null = nullValue{}

// updateMu serialises read-modify-write cycles of this process (collectors, bootstrap).
var updateMu sync.Mutex

// Update writes changes into the file at path. When every change replaces an existing single-line value by a
// single value, only those values' bytes change and the rest of the file stays byte for byte; otherwise the
// document is edited through the yaml.v3 node tree, which keeps comments and key order but re-indents.
func Update(path string, changes ...Change) error {
	updateMu.Lock()
	defer updateMu.Unlock()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config %s: cannot update, the file is not valid YAML: %s", path, yamlMsg(err))
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if isNull(root) {
		*root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	var key []byte
	keyFor := func() ([]byte, error) {
		if key == nil {
			k, err := MachineKey()
			if err != nil {
				return nil, err
			}
			key = k
		}
		return key, nil
	}
	var edits []scalarEdit
	structural := false
	for _, c := range changes {
		if len(c.Path) == 0 {
			return fmt.Errorf("config %s: a change needs a key path", path)
		}
		dotted := strings.Join(c.Path, ".")
		if c.Value == nil {
			if err := deleteKey(root, c.Path); err != nil {
				return fmt.Errorf("config %s: %s: %w", path, dotted, err)
			}
			structural = true
			continue
		}
		val, err := valueNode(c.Value, IsSecretKey(c.Path[len(c.Path)-1]), keyFor)
		if err != nil {
			return fmt.Errorf("config %s: %s: %w", path, dotted, err)
		}
		keyNode, target, err := findOrCreate(root, c.Path)
		if err != nil {
			return fmt.Errorf("config %s: %s: %w", path, dotted, err)
		}
		if target != nil && target.Kind == yaml.ScalarNode && val.Kind == yaml.ScalarNode && !strings.Contains(val.Value, "\n") &&
			target.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 && target.Line > 0 {
			text, err := scalarText(val)
			if err == nil {
				orig := *target // the edit needs the old position and style; the tree gets the new value
				e := scalarEdit{node: &orig, path: dotted, text: text}
				if isNull(target) && target.Value == "" {
					e.afterKey = keyNode
				}
				edits = append(edits, e)
				replaceKeepingComments(target, val)
				continue
			}
		}
		structural = true
		if target == nil {
			return fmt.Errorf("config %s: %s: internal error, key not created", path, dotted)
		}
		replaceKeepingComments(target, val)
	}
	var out []byte
	if !structural {
		if out, err = applyScalarEdits(data, edits); err != nil {
			structural = true
		}
	}
	if structural {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		enc.Close()
		out = buf.Bytes()
	}
	if bytes.Equal(out, data) {
		return nil
	}
	return writeFileAtomic(path, out)
}

// ClearInitialLoad reverts a consumed initial load: general.do_initial_load becomes false and, when present,
// general.do_initial_load_filter becomes null. kind is "entra" or "hr".
func ClearInitialLoad(path, kind, tenant string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	changes := []Change{{Path: []string{kind, tenant, "general", "do_initial_load"}, Value: false}}
	var probe struct {
		Entra map[string]struct{ General map[string]any } `yaml:"entra"`
		HR    map[string]struct{ General map[string]any } `yaml:"hr"`
	}
	if yaml.Unmarshal(data, &probe) == nil {
		m := probe.Entra
		if kind == "hr" {
			m = probe.HR
		}
		if _, ok := m[tenant].General["do_initial_load_filter"]; ok {
			changes = append(changes, Change{Path: []string{kind, tenant, "general", "do_initial_load_filter"}, Value: Null})
		}
	}
	return Update(path, changes...)
}

// valueNode encodes v; a scalar under a secret key is encrypted, and so are secret keys inside a mapping value.
func valueNode(v any, secretKey bool, keyFor func() ([]byte, error)) (*yaml.Node, error) {
	if _, ok := v.(nullValue); ok {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	if s, ok := v.(Secret); ok {
		v = s.Reveal()
	}
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	encrypt := func(s *yaml.Node) error {
		if s.Value == "" || strings.HasPrefix(s.Value, EncPrefix) {
			return nil
		}
		k, err := keyFor()
		if err != nil {
			return err
		}
		enc, err := EncryptSecret(k, s.Value)
		if err != nil {
			return err
		}
		s.Value, s.Tag, s.Style = enc, "!!str", 0
		return nil
	}
	if secretKey && n.Kind == yaml.ScalarNode && !isNull(&n) {
		if err := encrypt(&n); err != nil {
			return nil, err
		}
	}
	for _, s := range secretNodes(&n, "", nil) {
		if err := encrypt(s.node); err != nil {
			return nil, err
		}
	}
	return &n, nil
}

// replaceKeepingComments puts val in place of target, keeping the comments attached to target.
func replaceKeepingComments(target, val *yaml.Node) {
	head, line, foot := target.HeadComment, target.LineComment, target.FootComment
	*target = *val
	if target.HeadComment == "" {
		target.HeadComment = head
	}
	if target.LineComment == "" {
		target.LineComment = line
	}
	if target.FootComment == "" {
		target.FootComment = foot
	}
}

// scalarText renders a scalar node as it would appear in a block mapping.
func scalarText(n *yaml.Node) (string, error) {
	if isNull(n) {
		return "null", nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(b), "\n")
	if strings.Contains(s, "\n") {
		return "", fmt.Errorf("multi-line value")
	}
	return s, nil
}

// findOrCreate returns the key node and value node at p, creating missing mappings.
func findOrCreate(root *yaml.Node, p []string) (*yaml.Node, *yaml.Node, error) {
	n := root
	var keyNode *yaml.Node
	for i, k := range p {
		if isNull(n) {
			*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == k {
					keyNode, n, found = n.Content[j], n.Content[j+1], true
					break
				}
			}
			if !found {
				keyNode = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}
				v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
				n.Content = append(n.Content, keyNode, v)
				n = v
			}
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(k)
			if err != nil || idx < 0 || idx >= len(n.Content) {
				return nil, nil, fmt.Errorf("%q is not an index of the list %s", k, strings.Join(p[:i], "."))
			}
			keyNode, n = nil, n.Content[idx]
		default:
			return nil, nil, fmt.Errorf("%s is a single value, not a mapping", strings.Join(p[:i], "."))
		}
	}
	return keyNode, n, nil
}

func deleteKey(root *yaml.Node, p []string) error {
	parentPath, last := p[:len(p)-1], p[len(p)-1]
	n := root
	for _, k := range parentPath {
		next := (*yaml.Node)(nil)
		switch n.Kind {
		case yaml.MappingNode:
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == k {
					next = n.Content[j+1]
				}
			}
		case yaml.SequenceNode:
			if idx, err := strconv.Atoi(k); err == nil && idx >= 0 && idx < len(n.Content) {
				next = n.Content[idx]
			}
		}
		if next == nil {
			return nil // nothing to delete
		}
		n = next
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == last {
			n.Content = append(n.Content[:j], n.Content[j+2:]...)
			return nil
		}
	}
	return nil
}
