// Package natsauth generates and edits SCIM Stream's NATS decentralized-JWT material: the operator and system
// account, one account per (tenant, collector type) and one internal state account, the role signing keys of each
// account (scoped, with permission templates), user JWTs and .creds files, revocation and signing-key rotation, and
// the configuration with which a stock nats-server serves the same accounts.
//
// Why one account per (tenant, type): the Node SCIM Gateway must be allowed to subscribe to _INBOX.>, and inside one
// NATS account such a user can read every other user's pull replies, so only account boundaries separate ENTRA, HR
// and GW subscribers (see package wire, Isolation).
package natsauth

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/jwt/v2"

	"github.com/scim-stream/scim-stream/wire"
)

// State is the account type of the internal account holding the collectors' KV state; no subscriber role exists
// for it. The per-tenant account types are the collector types, wire.Types.
const State wire.Type = "STATE"

// Role names a signing key of an account; users issued with that key get the role's permission template.
type Role string

// Roles. The configuration keeps each role's signing seed under signing.<role>_secret (pub_secret,
// sub_entra_secret, sub_hr_secret, gw_pub_secret, gw_sub_secret).
const (
	// Pub is SCIM Stream's own publisher in an ENTRA or HR account, and its KV client in the state account.
	Pub Role = "pub"
	// SubEntra and SubHR are pull subscribers (Node SCIM Gateway or our gateway).
	SubEntra Role = "sub_entra"
	SubHR    Role = "sub_hr"
	// GWPub sends requests to GW.<channel>; GWSub answers them.
	GWPub Role = "gw_pub"
	GWSub Role = "gw_sub"
)

// ConfigKey is the key of the role's seed under an account's signing map.
func (r Role) ConfigKey() string { return string(r) + "_secret" }

// ParseRole accepts a role name or its configuration key (sub_hr or sub_hr_secret).
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "_secret"))
	switch r {
	case Pub, SubEntra, SubHR, GWPub, GWSub:
		return r, nil
	}
	return "", fmt.Errorf("role %q: use pub, sub_entra, sub_hr, gw_pub or gw_sub", s)
}

// Roles returns the roles (signing keys) of an account type.
func Roles(typ wire.Type) []Role {
	switch typ {
	case wire.Entra:
		return []Role{Pub, SubEntra}
	case wire.HR:
		return []Role{Pub, SubHR}
	case wire.GW:
		return []Role{GWPub, GWSub}
	case State:
		return []Role{Pub}
	}
	return nil
}

// SubscriberRole is the role of a subscriber of typ (for GW: the responder).
func SubscriberRole(typ wire.Type) Role {
	switch typ {
	case wire.Entra:
		return SubEntra
	case wire.HR:
		return SubHR
	case wire.GW:
		return GWSub
	}
	return ""
}

// AccountTypes returns the types that hold role r (pub is in both collector accounts).
func AccountTypes(r Role) []wire.Type {
	switch r {
	case Pub:
		return []wire.Type{wire.Entra, wire.HR}
	case SubEntra:
		return []wire.Type{wire.Entra}
	case SubHR:
		return []wire.Type{wire.HR}
	case GWPub, GWSub:
		return []wire.Type{wire.GW}
	}
	return nil
}

// ReadOnlyPrefix starts the subject of read-only GW requests: GW.$RO.<channel>. A gw_pub user bound to it may send
// only there, and responders of GW.<channel> execute nothing but reads from it.
const ReadOnlyPrefix = "GW.$RO."

// gwInboxRoot starts the reply subjects of the bundled GW publisher: GWInbox.
const gwInboxRoot = "_GW_INBOX"

// GWInbox is the reply prefix of the bundled publisher sending on GW subject subject ("GW.APPX" →
// "_GW_INBOX.APPX"): only publisher credentials of that subject may subscribe to it.
func GWInbox(subject string) string {
	return gwInboxRoot + "." + strings.TrimPrefix(subject, "GW.")
}

// PublisherInbox is the reply prefix of SCIM Stream's own connections. Subscribers may only subscribe to _INBOX.>,
// so they cannot read the publisher's acknowledgements and API replies.
const PublisherInbox = "_PUB_INBOX"

// tenantRE is what a tenant name must be: it is a stream name, part of KV bucket names and of API subjects.
var tenantRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// CheckTenant reports why name cannot be a tenant name.
func CheckTenant(name string) error {
	if !tenantRE.MatchString(name) {
		return fmt.Errorf("tenant name %q: use only letters, digits, '-' and '_' (it becomes the NATS stream name)", name)
	}
	return nil
}

// template is the permission template of role in the account of (tenant, typ). {{name()}} is the user's name: the
// durable a subscriber is bound to ("*" when unbound), or the GW channel of a gateway user (">" for every channel).
// Names keep their case, unlike tags, which NATS lower-cases.
func template(tenant string, typ wire.Type, r Role) jwt.UserPermissionLimits {
	s := jwt.NewUserScope()
	p := &s.Template.Permissions
	switch {
	case typ == State:
		// The state account has no subscribers; SCIM Stream's KV client needs the JetStream API, KV subjects,
		// acks and flow control.
		p.Pub.Allow.Add(">")
		p.Sub.Allow.Add(">")
	case r == Pub:
		p.Pub.Allow.Add(wire.Subject(typ, ">"))
		p.Pub.Allow.Add(withHubDomain("$JS.API.INFO",
			"$JS.API.STREAM.INFO."+tenant, "$JS.API.STREAM.CREATE."+tenant, "$JS.API.STREAM.UPDATE."+tenant)...)
		p.Sub.Allow.Add(PublisherInbox + ".>")
	case r == SubEntra || r == SubHR:
		// Exactly the Node SCIM Gateway's pull subscriber (package wire), with the filter restricted to typ's subjects.
		d := tenant + ".{{name()}}"
		p.Pub.Allow.Add(withHubDomain("$JS.API.INFO",
			"$JS.API.CONSUMER.INFO."+d,
			"$JS.API.CONSUMER.CREATE."+d+"."+wire.Subject(typ, ">"),
			"$JS.API.CONSUMER.MSG.NEXT."+d)...)
		p.Pub.Allow.Add("$JS.ACK." + d + ".>")
		p.Sub.Allow.Add("_INBOX.>")
	case r == GWPub:
		// A read-only publisher is bound to GW.$RO.<channel> (name "$RO.<channel>"), which responders execute
		// reads only on: the limit holds at the broker, whatever the credential holder sends. _INBOX.> is the
		// Node gateway's reply prefix; the bundled publisher takes its replies on GWInbox(<subject>) instead, which
		// a publisher credential of another channel may not subscribe to.
		p.Pub.Allow.Add("GW.{{name()}}")
		p.Sub.Allow.Add("_INBOX.>", gwInboxRoot+".{{name()}}.>")
	}
	return s.Template
}

// HubDomain is the JetStream domain of the clustered hubs (cluster mode): a client-facing front maps each
// $JS.API.<x> request to $JS.<HubDomain>.API.<x>, and the server checks permissions after that mapping.
const HubDomain = "scimhub"

// withHubDomain returns each JetStream API subject in both forms, $JS.API.<x> and $JS.<HubDomain>.API.<x>, so
// that the same credential works on a single node (no domain) and through a cluster node's front (mapped). The
// domain form is harmless on a single node: no server answers it there.
func withHubDomain(subjects ...string) []string {
	out := make([]string, 0, 2*len(subjects))
	for _, s := range subjects {
		out = append(out, s)
		if rest, ok := strings.CutPrefix(s, "$JS.API."); ok {
			out = append(out, "$JS."+HubDomain+".API."+rest)
		}
	}
	return out
}

// responderPermissions are a gw_sub user's permissions for the GW channel name (">" for every channel). NATS
// templates cannot express a queue permission ("subject queue" is not a valid subject once expanded), so gw_sub
// is an unscoped signing key and Issue writes these into each responder's JWT.
//
// Queue subscriptions only, in the queue group named like the subject (the bundled responder's): a responder
// credential cannot take a copy of every request outside the group, nor answer another channel. No publish
// permission but replies: allow_responses lets it answer each request once.
func responderPermissions(name string) jwt.Permissions {
	var p jwt.Permissions
	p.Sub.Allow.Add("GW."+name+" GW."+name, ReadOnlyPrefix+name+" GW."+name)
	p.Resp = &jwt.ResponsePermission{MaxMsgs: 1}
	return p
}
