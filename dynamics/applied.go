package dynamics

import "github.com/scim-stream/scim-stream/rules"

// IDsAttribute is the user attribute listing the dynamics in force, so stream rules can select them:
// (user.dynamicIds -match "dynamic-1"). Only Apply writes it; messages do not carry it (see rules.DynamicIDs).
const IDsAttribute = rules.DynamicIDs

// Applied is what the dynamics in force did to one user. The pipeline stores it with the user (as JSON) so that a
// user that already carries dynamics — a stored user, also after a restart — can be turned back into the source's
// view exactly (Revert): what a dynamic added is removed, what it overwrote is restored, and what the source
// itself gave is never touched. Its JSON encoding is deterministic, so equal states encode equally.
type Applied struct {
	// IDs are the dynamics in force, in configuration order.
	IDs []string `json:"ids,omitempty"`
	// Changes are, per dynamic id, the changes it made, in the order made.
	Changes map[string][]Change `json:"changes,omitempty"`
	// Err is a rule of a dynamic whose regex match timed out (rules.TimeoutError): whether it applies is
	// unknown, so the user must not be published with this result. Not stored.
	Err error `json:"-"`
}

// Change is one change a dynamic made to a user attribute.
type Change struct {
	// Path is the attribute path without "user." ("groups", "roles", "addresses", "name.givenName").
	Path string `json:"path"`
	// List: the assignment merged elements into a multi-valued attribute; Added are the elements it added and
	// Replaced, when any was, the element each one displaced (same index; null when it was appended): the element
	// of the same type in addresses, emails… Groups and roles the user already had are neither added nor replaced.
	List     bool  `json:"list,omitempty"`
	Added    []any `json:"added,omitempty"`
	Replaced []any `json:"replaced,omitempty"`
	// Value is what a single-valued assignment wrote; Before is what it overwrote when Had.
	Value  any  `json:"value"`
	Before any  `json:"before"`
	Had    bool `json:"had,omitempty"`
}
