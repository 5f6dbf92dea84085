package wire

import (
	"fmt"
	"strings"
)

// Type is a collector type: the first token of every subject of its messages and, per tenant, the NATS account
// its publisher and subscribers belong to.
type Type string

// The types. ENTRA and HR are JetStream streams of user messages; GW is the gateways' request-reply.
const (
	Entra Type = "ENTRA"
	HR    Type = "HR"
	GW    Type = "GW"
)

// Types are the per-tenant types in configuration order.
var Types = []Type{Entra, HR, GW}

// Key is the type as the configuration and the command line spell it: the section of a tenant (`entra`, `hr`),
// the mapper's collector kind, the -type flag.
func (t Type) Key() string { return strings.ToLower(string(t)) }

// ParseType accepts entra, hr, gw in any case.
func ParseType(s string) (Type, error) {
	t := Type(strings.ToUpper(strings.TrimSpace(s)))
	switch t {
	case Entra, HR, GW:
		return t, nil
	}
	return "", fmt.Errorf("type %q: use entra, hr or gw", s)
}

// Subject is the subject of a type's channel: <TYPE>.<channel>, e.g. ENTRA.APP1 or HR.SF. Subjects carry no
// tenant: tenants (and types) are separated by NATS account.
func Subject(t Type, channel string) string { return string(t) + "." + channel }

// TypeOf is the type a subject (or a subscriber's filter such as ENTRA.AD.* or HR.>) belongs to: its first token.
// ok is false when that token is none of the types.
func TypeOf(subject string) (t Type, ok bool) {
	first, _, _ := strings.Cut(subject, ".")
	switch Type(first) {
	case Entra, HR, GW:
		return Type(first), true
	}
	return "", false
}

// Header names. Msg-Id is what the Node SCIM Gateway reads: a message without it is acked and dropped. Nats-Msg-Id
// carries the same value so that JetStream de-duplicates a republished change.
const (
	MsgIDHeader     = "Msg-Id"
	NatsMsgIDHeader = "Nats-Msg-Id"
)

// DurableName is the Node SCIM Gateway's consumer name for (plugin, baseEntity): durable_<plugin>_<entity> with,
// over the whole string, '*' -> '#', '>' -> "##", '.' -> '_'.
func DurableName(plugin, entity string) string {
	return strings.NewReplacer("*", "#", ">", "##", ".", "_").Replace("durable_" + plugin + "_" + entity)
}
