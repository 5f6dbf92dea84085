package scimserver

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

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
	// Headers have lower-case names; authorization is encrypted (authorizationKey).
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

// sealAuthorization encrypts the client's Authorization header for the relayed request with AES-256-GCM under
// a key derived from the Msg-Id, as the Node gateway does not forward it in clear. Anyone who sees the message
// sees the Msg-Id, so this keeps the credential out of logs and casual inspection only: the GW account (who
// may publish and subscribe GW.<channel>) is the security boundary, and our responder never needs the header
// because the publisher has already authenticated the client.
func sealAuthorization(msgID, authorization string) (string, error) {
	gcm, err := authorizationAEAD(msgID)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(authorization), nil)), nil
}

func authorizationAEAD(msgID string) (cipher.AEAD, error) {
	key := sha256.Sum256([]byte("scim-stream gw authorization\x00" + msgID))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
