// Package scim holds the SCIM 2.0 user value that flows through SCIM Stream, attribute paths into it, and the
// PATCH operations that describe a change. The stream message that carries them is package wire's.
package scim

// User is a SCIM 2.0 user as a JSON object. It is map-based on purpose: the mapper may produce any custom
// attribute, and subscribers receive exactly what was mapped. Values are the types encoding/json produces
// (string, float64, bool, nil, []any, map[string]any); use Normalize on values from elsewhere.
type User map[string]any

// Operation is one SCIM PATCH operation (RFC 7644 §3.5.2). Path is always set: the Node gateway drops an
// operation without a string path. Field order follows the product documentation's message example.
type Operation struct {
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
	Path  string `json:"path"`
}
