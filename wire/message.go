package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/scim-stream/scim-stream/scim"
)

// Activity operations a subscriber understands. Anything else is treated as create-or-update.
const (
	CreateUser = "createUser"
	ModifyUser = "modifyUser"
	DeleteUser = "deleteUser"
)

// Message is the envelope published on <TYPE>.<channel>. Field order is the wire order; keep it stable so that
// golden messages and de-duplication by content stay meaningful (AppendMessage writes exactly this layout).
type Message struct {
	ActivityOperation string           `json:"activityOperation"`
	ActivityDateTime  string           `json:"activityDateTime,omitempty"`
	InitiatedByID     string           `json:"initiatedById,omitempty"`
	InitiatedByUPN    string           `json:"initiatedByUpn,omitempty"`
	TargetID          string           `json:"targetId,omitempty"`
	TargetUPN         string           `json:"targetUpn,omitempty"`
	Operations        []scim.Operation `json:"Operations"`
	User              scim.User        `json:"user"`
}

// Decode parses a message body and returns it with its user's userName (the subscriber's lookup key). A body that
// is not a JSON message with a user object and a non-blank userName is an error: no retry can make it one.
func Decode(data []byte) (*Message, string, error) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, "", fmt.Errorf("body is not a SCIM Stream message (JSON): %v", err)
	}
	if m.User == nil {
		return nil, "", errors.New("message has no user object")
	}
	name, ok := m.User["userName"].(string)
	if !ok || strings.TrimSpace(name) == "" {
		return nil, "", errors.New("message user has no userName (the lookup key)")
	}
	return &m, name, nil
}
