package scimserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// bulk serves POST /Bulk (RFC 7644 §3.7): the operations run one after the other through the same code as
// single requests; "bulkId:<id>" references in paths and data resolve to the ids created earlier in the request.
func (h *request) bulk() error {
	if h.r.Method != http.MethodPost {
		return newError(http.StatusMethodNotAllowed, "", "use POST /Bulk")
	}
	obj, err := h.readObject()
	if err != nil {
		return err
	}
	var req struct {
		FailOnErrors int `json:"failOnErrors"`
		Operations   []struct {
			Method  string `json:"method"`
			BulkID  string `json:"bulkId"`
			Version string `json:"version"`
			Path    string `json:"path"`
			Data    any    `json:"data"`
		} `json:"Operations"`
	}
	raw, _ := json.Marshal(obj)
	if err := json.Unmarshal(raw, &req); err != nil {
		return newError(http.StatusBadRequest, "invalidSyntax", "not a BulkRequest: "+err.Error())
	}
	if len(req.Operations) > maxBulkOperations {
		return newError(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("%d operations: at most %d per bulk request", len(req.Operations), maxBulkOperations))
	}
	ids := map[string]string{}
	var results []any
	failures := 0
	for _, op := range req.Operations {
		if req.FailOnErrors > 0 && failures >= req.FailOnErrors {
			break
		}
		result := map[string]any{"method": op.Method}
		if op.BulkID != "" {
			result["bulkId"] = op.BulkID
		}
		status, hdr, body := h.bulkOne(strings.ToUpper(op.Method), op.BulkID, op.Path, op.Version, op.Data, ids)
		result["status"] = strconv.Itoa(status)
		if loc := hdr.Get("Location"); loc != "" {
			result["location"] = loc
		}
		if v := hdr.Get("ETag"); v != "" {
			result["version"] = v
		}
		if status >= 400 {
			failures++
			var e any
			if json.Unmarshal(body, &e) == nil {
				result["response"] = e
			}
		} else if op.Method != "" && strings.EqualFold(op.Method, http.MethodPost) && op.BulkID != "" {
			var created struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(body, &created) == nil && created.ID != "" {
				ids[op.BulkID] = created.ID
			}
		}
		results = append(results, result)
	}
	return h.writeJSON(http.StatusOK, map[string]any{"schemas": []string{schemaBulkResponse}, "Operations": results}, "")
}

func (h *request) bulkOne(method, bulkID, path, version string, data any, ids map[string]string) (int, http.Header, []byte) {
	fail := func(status int, scimType, detail string) (int, http.Header, []byte) {
		return status, http.Header{}, errorBody(status, scimType, detail)
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return fail(http.StatusBadRequest, "invalidSyntax", fmt.Sprintf("bulk method %q: use POST, PUT, PATCH or DELETE", method))
	}
	if method == http.MethodPost && bulkID == "" {
		return fail(http.StatusBadRequest, "invalidSyntax", "a bulk POST needs a bulkId")
	}
	var unresolved string
	resolve := func(s string) string {
		if ref, ok := strings.CutPrefix(s, "bulkId:"); ok {
			if id, ok := ids[ref]; ok {
				return id
			}
			unresolved = ref
		}
		return s
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = resolve(s)
	}
	path = strings.Join(segs, "/")
	data = resolveRefs(data, resolve)
	if unresolved != "" {
		return fail(http.StatusConflict, "invalidValue", fmt.Sprintf("bulkId %q does not name a resource created earlier in this request", unresolved))
	}
	rt, err := parseRoute(path)
	if err != nil || rt.baseEntity != "" || (rt.resource != resUsers && rt.resource != resGroups) {
		return fail(http.StatusBadRequest, "invalidPath", fmt.Sprintf("bulk path %q: use /Users[/<id>] or /Groups[/<id>]", path))
	}
	rt.baseEntity = h.rt.baseEntity
	var body []byte
	if data != nil {
		body, _ = json.Marshal(data)
	}
	sub, err := http.NewRequestWithContext(h.ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return fail(http.StatusBadRequest, "invalidPath", fmt.Sprintf("bulk path %q: %v", path, err))
	}
	sub.Host = h.r.Host
	sub.TLS = h.r.TLS
	sub.Header.Set("Content-Type", "application/scim+json")
	if version != "" {
		sub.Header.Set("If-Match", version)
	}
	rec := newMemResponse()
	h.s.serve(rec, sub, rt, h.who)
	return rec.status, rec.header, rec.body.Bytes()
}

func resolveRefs(v any, resolve func(string) string) any {
	switch x := v.(type) {
	case string:
		return resolve(x)
	case map[string]any:
		for k, e := range x {
			x[k] = resolveRefs(e, resolve)
		}
	case []any:
		for i, e := range x {
			x[i] = resolveRefs(e, resolve)
		}
	}
	return v
}

// memResponse is an in-memory http.ResponseWriter for requests the gateway makes to itself (bulk operations,
// relayed requests).
type memResponse struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func newMemResponse() *memResponse { return &memResponse{header: http.Header{}} }

func (m *memResponse) Header() http.Header { return m.header }

func (m *memResponse) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.body.Write(b)
}

func (m *memResponse) WriteHeader(status int) {
	if m.status == 0 {
		m.status = status
	}
}
