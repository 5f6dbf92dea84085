package config

import "gopkg.in/yaml.v3"

// SecretValue is a scalar under a secret key of a YAML (or JSON) document, with its key path (a.b[0].c).
type SecretValue struct {
	Path string
	Node *yaml.Node
}

// SecretValues lists the non-empty scalar values under the keys isSecret accepts (IsSecretKey when nil), in
// document order. Other files than config.yaml (a gateway's) use it with their own secret keys.
func SecretValues(root *yaml.Node, isSecret func(key string) bool) []SecretValue {
	if isSecret == nil {
		isSecret = IsSecretKey
	}
	var out []SecretValue
	for _, s := range secretNodesOf(root, "", isSecret, nil) {
		out = append(out, SecretValue{Path: s.path, Node: s.node})
	}
	return out
}

// EncryptInPlace rewrites the file at path, whose bytes data are, with every clear-text value of secrets
// encrypted with key (MachineKey), changing only those values' bytes: comments, order and quoting of everything
// else stay, and values are written double-quoted so that a JSON file stays JSON. A file that changed since data
// was read is left alone (until it is read again).
func EncryptInPlace(path string, data []byte, secrets []SecretValue, key []byte) error {
	nodes := make([]secretNode, len(secrets))
	for i, s := range secrets {
		nodes[i] = secretNode{path: s.Path, node: s.Node}
	}
	return encryptNodes(path, data, nodes, key, true)
}
