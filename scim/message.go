// Package scim holds the SCIM 2.0 user value that flows through SCIM Stream, attribute paths into it, the
// PATCH operations that describe a change, and the stream message envelope that subscribers receive.
package scim

// User is a SCIM 2.0 user as a JSON object. It is map-based on purpose: the mapper may produce any custom
// attribute, and subscribers receive exactly what was mapped. Values are the types encoding/json produces
// (string, float64, bool, nil, []any, map[string]any); use Normalize on values from elsewhere.
type User map[string]any

// Activity operations a subscriber understands (WIRE.md). Anything else is treated as create-or-update.
const (
	CreateUser = "createUser"
	ModifyUser = "modifyUser"
	DeleteUser = "deleteUser"
)

// Operation is one SCIM PATCH operation (RFC 7644 §3.5.2). Path is always set: the Node gateway drops an
// operation without a string path. Field order follows the product documentation's message example.
type Operation struct {
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
	Path  string `json:"path"`
}

// Message is the envelope published on <TYPE>.<channel>. Field order is the wire order; keep it stable so that
// golden messages and de-duplication by content stay meaningful.
type Message struct {
	ActivityOperation string      `json:"activityOperation"`
	ActivityDateTime  string      `json:"activityDateTime,omitempty"`
	InitiatedByID     string      `json:"initiatedById,omitempty"`
	InitiatedByUPN    string      `json:"initiatedByUpn,omitempty"`
	TargetID          string      `json:"targetId,omitempty"`
	TargetUPN         string      `json:"targetUpn,omitempty"`
	Operations        []Operation `json:"Operations"`
	User              User        `json:"user"`
}
