package scimserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/gateway/scimserver"
)

// FuzzServerRequest sends arbitrary requests to the SCIM server over the store: whatever the method, path, query,
// Content-Type and body, it never panics, never answers 500, and every error is a SCIM error body whose status
// is the HTTP status.
func FuzzServerRequest(f *testing.F) {
	for _, s := range []struct{ method, target, ctype, body string }{
		{"POST", "/Users", "application/scim+json", `{"userName":"bjensen","name":{"givenName":"B"},"emails":[{"value":"b@x","type":"work"}]}`},
		{"POST", "/Groups", "application/scim+json", `{"displayName":"Admins","members":[{"value":"x"}]}`},
		{"GET", "/Users?filter=" + `userName%20eq%20%22bjensen%22` + "&attributes=userName,emails[type%20eq%20%22work%22]", "", ""},
		{"GET", "/Users?sortBy=name.familyName&sortOrder=descending&startIndex=0&count=-1", "", ""},
		{"PATCH", "/Users/bjensen", "application/scim+json", `{"Operations":[{"op":"Replace","value":{"name.givenName":"X","active":"False"}}]}`},
		{"PATCH", "/Groups/Admins", "application/json", `{"Operations":[{"op":"remove","path":"members[value eq \"x\"]"}]}`},
		{"PUT", "/Users/bjensen", "application/scim+json", `{"userName":"bjensen","title":{"a":1}}`},
		{"POST", "/Bulk", "application/scim+json", `{"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"a"}},{"method":"DELETE","path":"/Users/bulkId:a"}]}`},
		{"POST", "/Users/.search", "application/scim+json", `{"filter":"not (userName pr)","count":2}`},
		{"DELETE", "/Users/..%2F..%2Fetc", "", ""},
		{"GET", "/tenant-x/Groups/%00", "", ""},
		{"POST", "/Users", "text/plain", `{"userName":"a"}`},
		{"GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "", ""},
	} {
		f.Add(s.method, s.target, s.ctype, s.body)
	}
	st := scimStore(f, "fuzz")
	h := scimserver.NewServer(st, scimserver.ServerOptions{MaxBodyBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, method, target, ctype, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest(method, "http://gw.example.com"+target, strings.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (%s) %q: status %d: %s", method, target, ctype, body, rec.Code, rec.Body)
		}
		if rec.Code < 400 {
			return
		}
		var e struct {
			Schemas []string
			Status  string
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e.Schemas) != 1 ||
			e.Schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || e.Status != strconv.Itoa(rec.Code) {
			t.Fatalf("%s %s: status %d without a SCIM error body: %s", method, target, rec.Code, rec.Body)
		}
	})
}
