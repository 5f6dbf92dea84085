package gateway

import (
	"encoding/json"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// EncodeStream writes s as a gateway configuration's scimgateway.stream block: format "json" is the block of a
// Node SCIM Gateway plugin file, "yaml" the same under a `stream` key. The entities' NATS secrets are written in
// clear text (config.Secret masks itself in every other encoding): the output is a credential for the operator
// to paste into the gateway's configuration, which encrypts it at the gateway's first start.
func EncodeStream(w io.Writer, s Stream, format string) error {
	var doc yaml.Node
	if err := doc.Encode(s); err != nil {
		return err
	}
	for key, subs := range map[string]*Subscribers{"subscriber": s.Subscriber, "publisher": s.Publisher} {
		if subs == nil {
			continue
		}
		for name, e := range subs.Entity {
			if n := nodeAt(&doc, key, "entity", name, "nats", "secret"); n != nil {
				n.Value, n.Tag, n.Style = e.NATS.Secret.Reveal(), "!!str", 0
			}
		}
	}
	switch format {
	case "json":
		var v any
		if err := doc.Decode(&v); err != nil {
			return err
		}
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(out))
		return err
	case "yaml":
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "stream"}, &doc}}); err != nil {
			return err
		}
		return enc.Close()
	}
	return fmt.Errorf("stream block format %q: use json or yaml", format)
}

// nodeAt is the value at the key path in a mapping node, or nil.
func nodeAt(n *yaml.Node, path ...string) *yaml.Node {
	for _, k := range path {
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
