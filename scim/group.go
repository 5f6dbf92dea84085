package scim

// Group is a SCIM 2.0 group as a JSON object (id, displayName, members [{value, display}], externalId, …).
// Like User it is map-based so that endpoints keep attributes they do not know.
type Group map[string]any
