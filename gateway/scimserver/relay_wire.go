package scimserver

import "encoding/json"

// The GW request-reply wire format is the Node SCIM Gateway's (package wire, "Gateway request-reply"), so that a Node
// publisher can use our responder and ours a Node responder.

// relayRequest is the request payload on GW.<channel>.
type relayRequest struct {
	Ctx        relayCtx `json:"ctx"`
	BaseEntity string   `json:"baseEntity"`
}

type relayCtx struct {
	Request  relayHTTP         `json:"request"`
	RouteObj relayRoute        `json:"routeObj"`
	Query    map[string]string `json:"query"`
	Path     string            `json:"path"`
}

type relayHTTP struct {
	Method string `json:"method"`
	// URL is the path and query as the client sent them (with the /<baseEntity> prefix).
	URL string `json:"url"`
	// Headers have lower-case names. Our publisher relays no credential (authorization, cookies); a Node
	// publisher's authorization (sealed with a key from the Msg-Id) is ignored.
	Headers map[string]any `json:"headers"`
	// Body is the parsed JSON body, or the raw text when it is not JSON.
	Body any `json:"body,omitempty"`
}

type relayRoute struct {
	Method     string `json:"method"`
	BaseEntity string `json:"baseEntity"`
	Handle     string `json:"handle"`
	ID         string `json:"id,omitempty"`
}

// relayReply is the reply: headers, status (omitted = 200) and the body as a string; or error and errName.
type relayReply struct {
	Headers map[string]string `json:"headers,omitempty"`
	Status  int               `json:"status,omitempty"`
	// Body is a JSON string holding the SCIM JSON; a reply with the object itself is accepted too.
	Body    json.RawMessage `json:"body,omitempty"`
	Error   string          `json:"error,omitempty"`
	ErrName string          `json:"errName,omitempty"`
}

// undefinedEntity is the Node gateway's name for "no baseEntity".
const undefinedEntity = "undefined"
