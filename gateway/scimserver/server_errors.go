package scimserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

// SCIM message schemas (RFC 7644 §3).
const (
	schemaError        = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaBulkRequest  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	schemaBulkResponse = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	contentTypeSCIM    = "application/scim+json; charset=utf-8"
)

// scimError is an HTTP error answered with a SCIM error body (RFC 7644 §3.12).
type scimError struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *scimError) Error() string { return e.Detail }

func newError(status int, scimType, detail string) *scimError {
	return &scimError{Status: status, ScimType: scimType, Detail: detail}
}

func errorBody(status int, scimType, detail string) []byte {
	// A detail may quote what the client sent (a filter, a value): never echo more than a line of it.
	if len(detail) > maxErrorDetail {
		cut := maxErrorDetail
		for cut > 0 && !utf8.RuneStart(detail[cut]) {
			cut--
		}
		detail = detail[:cut] + fmt.Sprintf("… (%d bytes cut)", len(detail)-cut)
	}
	body := map[string]any{"schemas": []string{schemaError}, "status": strconv.Itoa(status), "detail": detail}
	if scimType != "" {
		body["scimType"] = scimType
	}
	b, _ := json.Marshal(body)
	return b
}

// maxErrorDetail bounds an error detail in bytes.
const maxErrorDetail = 300

func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	w.Header().Set("Content-Type", contentTypeSCIM)
	w.WriteHeader(status)
	w.Write(errorBody(status, scimType, detail))
}

// toSCIMError maps endpoint sentinels, filter and PATCH errors to SCIM errors. Errors of unknown kind are
// treated as the endpoint being unavailable (503, retryable); their text stays in the log only, because it may
// describe the endpoint's internals.
func toSCIMError(err error) (e *scimError, internal bool) {
	var se *scimError
	var fe *scim.FilterError
	var pe *scim.PatchError
	switch {
	case errors.As(err, &se):
		return se, false
	case errors.As(err, &fe):
		return newError(http.StatusBadRequest, "invalidFilter", fe.Error()), false
	case errors.As(err, &pe):
		return newError(http.StatusBadRequest, pe.ScimType, pe.Error()), false
	case errors.Is(err, endpoint.ErrNotFound):
		return newError(http.StatusNotFound, "", err.Error()), false
	case errors.Is(err, endpoint.ErrConflict):
		return newError(http.StatusConflict, "uniqueness", err.Error()), false
	case errors.Is(err, endpoint.ErrInvalid):
		return newError(http.StatusBadRequest, "invalidValue", err.Error()), false
	}
	return newError(http.StatusServiceUnavailable, "", "the endpoint is unavailable, retry later"), true
}
