package config

import (
	"os"

	"gopkg.in/yaml.v3"
)

// KeyLine is the line of the key at path in the YAML file, or 0 (e.g. when the value came from the environment):
// for errors found after loading, by code that has the value but not its position.
func KeyLine(file string, path ...string) int {
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
