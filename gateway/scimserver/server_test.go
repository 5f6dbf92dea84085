package scimserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
)

func scimStore(t testing.TB, name string) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// scimClient sends requests to a SCIM server and decodes the answers.
type scimClient struct {
	t    testing.TB
	base string
	hc   *http.Client
	auth func(*http.Request)
}

type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (c *scimClient) do(method, path, body string, hdr ...string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.auth != nil {
		c.auth(req)
	}
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	json.Unmarshal(b, &r.body)
	return r
}

func (r reply) str(key string) string { s, _ := r.body[key].(string); return s }

func (r reply) resources() []map[string]any {
	var out []map[string]any
	arr, _ := r.body["Resources"].([]any)
	for _, e := range arr {
		out = append(out, e.(map[string]any))
	}
	return out
}

// serverFactory starts a SCIM server (direct, or publisher -> NATS -> responder) over a fresh store.
type serverFactory func(t *testing.T, opts scimserver.ServerOptions) (*scimClient, *store.Store)

func newSCIMServer(t *testing.T, opts scimserver.ServerOptions) (*scimClient, *store.Store) {
	st := scimStore(t, "scim")
	srv := httptest.NewServer(scimserver.NewServer(st, opts))
	t.Cleanup(srv.Close)
	return &scimClient{t: t, base: srv.URL}, st
}

const bjensen = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
	"userName":"bjensen","externalId":"bj","active":true,
	"name":{"givenName":"Barbara","familyName":"Jensen"},
	"emails":[{"value":"bjensen@example.com","type":"work","primary":true}],
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Tours"}}`

func mustStatus(t *testing.T, r reply, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.raw)
	}
}

func TestServerUserLifecycle(t *testing.T) { userLifecycle(t, newSCIMServer) }

func userLifecycle(t *testing.T, newSCIMServer serverFactory) {
	c, _ := newSCIMServer(t, scimserver.ServerOptions{})

	created := c.do("POST", "/Users", bjensen)
	mustStatus(t, created, 201, "create")
	id := created.str("id")
	if id == "" || created.header.Get("Location") == "" || created.header.Get("ETag") == "" {
		t.Fatalf("create: id %q, Location %q, ETag %q", id, created.header.Get("Location"), created.header.Get("ETag"))
	}
	if ct := created.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Fatalf("Content-Type %q", ct)
	}
	meta := created.body["meta"].(map[string]any)
	if meta["resourceType"] != "User" || !strings.HasSuffix(meta["location"].(string), "/Users/"+id) {
		t.Fatalf("meta %v", meta)
	}

	str := c.do("POST", "/Users", `{"userName":"emp1","active":"True","emails":[{"value":"e@x","primary":"False"}]}`)
	mustStatus(t, str, 201, "booleans as strings")
	if str.body["active"] != true || str.body["emails"].([]any)[0].(map[string]any)["primary"] != false {
		t.Fatalf("booleans as strings: %s", str.raw)
	}

	dup := c.do("POST", "/Users", `{"userName":"BJENSEN"}`)
	mustStatus(t, dup, 409, "duplicate userName")
	if dup.str("scimType") != "uniqueness" || dup.str("status") != "409" {
		t.Fatalf("duplicate: %s", dup.raw)
	}

	got := c.do("GET", "/Users/"+id, "")
	mustStatus(t, got, 200, "get")
	if got.str("userName") != "bjensen" {
		t.Fatalf("get: %s", got.raw)
	}
	etag := got.header.Get("ETag")
	mustStatus(t, c.do("GET", "/Users/"+id, "", "If-None-Match", etag), 304, "If-None-Match")

	// PUT replaces every attribute.
	put := c.do("PUT", "/Users/"+id, `{"userName":"bjensen","name":{"givenName":"Babs"},"active":true}`, "If-Match", etag)
	mustStatus(t, put, 200, "put")
	if put.body["emails"] != nil || put.body["name"].(map[string]any)["givenName"] != "Babs" {
		t.Fatalf("put did not replace: %s", put.raw)
	}
	mustStatus(t, c.do("PUT", "/Users/"+id, `{"userName":"bjensen"}`, "If-Match", etag), 412, "stale If-Match on PUT")

	// PATCH, Entra dialect.
	patched := c.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
		{"op":"Replace","path":"active","value":"False"},
		{"op":"Add","value":{"name.familyName":"Jensen","title":"Guide"}},
		{"op":"Add","path":"emails[type eq \"work\"].value","value":"b@work.com"}]}`)
	mustStatus(t, patched, 200, "patch")
	if patched.body["active"] != false || patched.body["title"] != "Guide" || patched.body["name"].(map[string]any)["familyName"] != "Jensen" {
		t.Fatalf("patch: %s", patched.raw)
	}
	if emails := patched.body["emails"].([]any); len(emails) != 1 || emails[0].(map[string]any)["value"] != "b@work.com" {
		t.Fatalf("patch emails: %v", patched.body["emails"])
	}
	again := c.do("GET", "/Users/"+id, "")
	if again.body["active"] != false || again.header.Get("ETag") == etag {
		t.Fatalf("patch not stored or ETag unchanged: %s", again.raw)
	}
	mustStatus(t, c.do("PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"title","value":"x"}]}`, "If-Match", etag), 412, "stale If-Match on PATCH")
	bad := c.do("PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"emails[type eq","value":"x"}]}`)
	mustStatus(t, bad, 400, "bad PATCH path")
	if bad.str("scimType") != "invalidPath" {
		t.Fatalf("bad PATCH path: %s", bad.raw)
	}
	mustStatus(t, c.do("PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"id","value":"x"}]}`), 400, "PATCH id")

	mustStatus(t, c.do("DELETE", "/Users/"+id, ""), 204, "delete")
	mustStatus(t, c.do("GET", "/Users/"+id, ""), 404, "get deleted")
	mustStatus(t, c.do("DELETE", "/Users/"+id, ""), 404, "delete twice")
	mustStatus(t, c.do("PATCH", "/Users/nope", `{"Operations":[{"op":"add","path":"title","value":"x"}]}`), 404, "patch missing")
}

func TestServerGroupsAndMembers(t *testing.T) { groupsAndMembers(t, newSCIMServer) }

func groupsAndMembers(t *testing.T, newSCIMServer serverFactory) {
	c, _ := newSCIMServer(t, scimserver.ServerOptions{})
	var ids []string
	for _, n := range []string{"alice", "bob", "carol"} {
		r := c.do("POST", "/Users", `{"userName":"`+n+`"}`)
		mustStatus(t, r, 201, "create "+n)
		ids = append(ids, r.str("id"))
	}
	g := c.do("POST", "/Groups", `{"displayName":"Admins","members":[{"value":"`+ids[0]+`"}]}`)
	mustStatus(t, g, 201, "create group")
	gid := g.str("id")
	mustStatus(t, c.do("POST", "/Groups", `{"displayName":"admins"}`), 409, "duplicate group")

	members := func() map[string]bool {
		r := c.do("GET", "/Groups/"+gid, "")
		mustStatus(t, r, 200, "get group")
		out := map[string]bool{}
		arr, _ := r.body["members"].([]any)
		for _, m := range arr {
			out[m.(map[string]any)["value"].(string)] = true
		}
		return out
	}
	patch := func(ops string) {
		t.Helper()
		mustStatus(t, c.do("PATCH", "/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`), 200, "patch group "+ops)
	}
	etag := c.do("GET", "/Groups/"+gid, "").header.Get("ETag")
	patch(`[{"op":"Add","path":"members","value":[{"value":"` + ids[1] + `"},{"value":"` + ids[2] + `"}]}]`)
	if m := members(); len(m) != 3 {
		t.Fatalf("after add: %v", m)
	}
	// A membership change is a new version of the group.
	stale := c.do("PATCH", "/Groups/"+gid, `{"Operations":[{"op":"remove","path":"members"}]}`, "If-Match", etag)
	mustStatus(t, stale, 412, "stale If-Match after a membership change")
	patch(`[{"op":"Remove","path":"members","value":[{"value":"` + ids[0] + `"}]}]`) // Entra dialect
	patch(`[{"op":"remove","path":"members[value eq \"` + ids[1] + `\"]"}]`)         // RFC
	if m := members(); len(m) != 1 || !m[ids[2]] {
		t.Fatalf("after removes: %v", m)
	}
	patch(`[{"op":"replace","path":"displayName","value":"Administrators"}]`)
	if r := c.do("GET", "/Groups/"+gid, ""); r.str("displayName") != "Administrators" || len(members()) != 1 {
		t.Fatalf("rename lost members or name: %s", r.raw)
	}
	patch(`[{"op":"replace","path":"members","value":[{"value":"` + ids[0] + `"}]}]`)
	if m := members(); len(m) != 1 || !m[ids[0]] {
		t.Fatalf("after replace: %v", m)
	}

	// The README's group queries.
	list := c.do("GET", "/Groups?"+url.Values{"filter": {`members.value eq "` + ids[0] + `"`}, "attributes": {"id,displayName,members.value"}}.Encode(), "")
	mustStatus(t, list, 200, "members filter")
	res := list.resources()
	if len(res) != 1 || res[0]["displayName"] != "Administrators" || res[0]["meta"] != nil {
		t.Fatalf("members filter: %s", list.raw)
	}
	if m := res[0]["members"].([]any)[0].(map[string]any); len(m) != 1 || m["value"] != ids[0] {
		t.Fatalf("members.value projection: %v", m)
	}
	ex := c.do("GET", "/Groups?"+url.Values{"filter": {`displayName eq "administrators"`}, "excludedAttributes": {"members"}}.Encode(), "")
	if r := ex.resources(); len(r) != 1 || r[0]["members"] != nil || r[0]["id"] != gid {
		t.Fatalf("excludedAttributes: %s", ex.raw)
	}
	mustStatus(t, c.do("DELETE", "/Groups/"+gid, ""), 204, "delete group")
}

func TestServerListQueries(t *testing.T) { listQueries(t, newSCIMServer) }

func listQueries(t *testing.T, newSCIMServer serverFactory) {
	c, _ := newSCIMServer(t, scimserver.ServerOptions{})
	users := []string{
		`{"userName":"bjensen","name":{"givenName":"Barbara","familyName":"Jensen"},"emails":[{"value":"bjensen@example.com","type":"work"}],"title":"Guide"}`,
		`{"userName":"jsmith","name":{"givenName":"John","familyName":"Smith"},"emails":[{"value":"john@example.com","type":"work"}],"active":true}`,
		`{"userName":"adoe","name":{"givenName":"Anna","familyName":"Doe"},"emails":[{"value":"anna@other.org","type":"home"}],"active":false}`,
	}
	for _, u := range users {
		mustStatus(t, c.do("POST", "/Users", u), 201, "create")
	}
	names := func(r reply) string {
		var out []string
		for _, res := range r.resources() {
			out = append(out, res["userName"].(string))
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		query string
		want  string
	}{
		{"filter=" + url.QueryEscape(`userName eq "bjensen"`), "bjensen"},
		{"filter=" + url.QueryEscape(`userName eq "BJENSEN"`), "bjensen"},
		{"filter=" + url.QueryEscape(`meta.created ge "2010-01-01T00:00:00Z"`) + "&sortBy=userName", "adoe,bjensen,jsmith"},
		{"filter=" + url.QueryEscape(`emails.value co "@example.com"`) + "&sortBy=name.familyName&sortOrder=descending", "jsmith,bjensen"},
		{"filter=" + url.QueryEscape(`emails[type eq "work" and value co "john"]`), "jsmith"},
		{"filter=" + url.QueryEscape(`not (active pr) or active eq false`) + "&sortBy=userName", "adoe,bjensen"},
		{"filter=" + url.QueryEscape(`(title pr or name.givenName sw "an") and not (userName eq "x")`) + "&sortBy=userName", "adoe,bjensen"},
		{"sortBy=userName&startIndex=2&count=1", "bjensen"},
		{"sortBy=userName&startIndex=0&count=2", "adoe,bjensen"},
		{"sortBy=userName&startIndex=10", ""},
		{"sortBy=name.givenName&sortOrder=DESCENDING", "jsmith,bjensen,adoe"},
		// Unquoted values, as Microsoft's reference collection sends them.
		{"filter=" + url.QueryEscape(`name.familyName eq Smith and (emails.value co example.com or emails.value co example.org)`), "jsmith"},
		{"filter=" + url.QueryEscape(`meta.created gt 2015-10-10T14:38:21.8617979-07:00`) + "&sortBy=userName", "adoe,bjensen,jsmith"},
	}
	for _, cs := range cases {
		r := c.do("GET", "/Users?"+cs.query, "")
		mustStatus(t, r, 200, cs.query)
		if got := names(r); got != cs.want {
			t.Errorf("%s: %q, want %q", cs.query, got, cs.want)
		}
	}
	page := c.do("GET", "/Users?sortBy=userName&startIndex=2&count=1", "")
	if page.body["totalResults"] != 3.0 || page.body["startIndex"] != 2.0 || page.body["itemsPerPage"] != 1.0 {
		t.Fatalf("paging fields: %s", page.raw)
	}
	zero := c.do("GET", "/Users?count=0", "")
	if zero.body["totalResults"] != 3.0 || len(zero.resources()) != 0 {
		t.Fatalf("count=0: %s", zero.raw)
	}
	proj := c.do("GET", "/Users?"+url.Values{"filter": {`userName eq "bjensen"`}, "attributes": {"userName,id,name.givenName"}}.Encode(), "")
	r := proj.resources()
	if len(r) != 1 || r[0]["name"].(map[string]any)["familyName"] != nil || r[0]["name"].(map[string]any)["givenName"] != "Barbara" || r[0]["emails"] != nil {
		t.Fatalf("attributes: %s", proj.raw)
	}
	vf := c.do("GET", "/Users?"+url.Values{"filter": {`userName eq "adoe"`}, "attributes": {`emails[type eq "home"]`}}.Encode(), "")
	if r := vf.resources(); len(r) != 1 || len(r[0]["emails"].([]any)) != 1 || r[0]["userName"] != nil {
		t.Fatalf("attributes with a value filter: %s", vf.raw)
	}
	search := c.do("POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"j\"","attributes":["userName"]}`)
	mustStatus(t, search, 200, ".search")
	if names(search) != "jsmith" {
		t.Fatalf(".search: %s", search.raw)
	}
}

func TestServerBadInput(t *testing.T) { badInput(t, newSCIMServer) }

func badInput(t *testing.T, newSCIMServer serverFactory) {
	c, _ := newSCIMServer(t, scimserver.ServerOptions{MaxBodyBytes: 4096})
	created := c.do("POST", "/Users", `{"userName":"x"}`)
	id := created.str("id")
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		scimType                 string
	}{
		{"malformed JSON", "POST", "/Users", `{"userName":`, nil, 400, "invalidSyntax"},
		{"JSON array", "POST", "/Users", `[1,2]`, nil, 400, "invalidSyntax"},
		{"trailing data", "POST", "/Users", `{"userName":"a"} {}`, nil, 400, "invalidSyntax"},
		{"no userName", "POST", "/Users", `{"name":{"givenName":"a"}}`, nil, 400, "invalidValue"},
		{"invalid attribute name", "POST", "/Users", `{"userName":"a","user name":"b"}`, nil, 400, "invalidValue"},
		{"extension not an object", "POST", "/Users", `{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"b"}`, nil, 400, "invalidSyntax"},
		{"active not boolean", "POST", "/Users", `{"userName":"a","active":"yes"}`, nil, 400, "invalidValue"},
		{"name not complex", "POST", "/Users", `{"userName":"a","name":"Ann"}`, nil, 400, "invalidValue"},
		{"emails not an array", "POST", "/Users", `{"userName":"a","emails":"a@x.com"}`, nil, 400, "invalidValue"},
		{"emails element not an object", "POST", "/Users", `{"userName":"a","emails":["a@x.com"]}`, nil, 400, "invalidValue"},
		{"displayName not a string", "POST", "/Users", `{"userName":"a","displayName":42}`, nil, 400, "invalidValue"},
		{"schemas not an array", "POST", "/Users", `{"userName":"a","schemas":"urn:ietf:params:scim:schemas:core:2.0:User"}`, nil, 400, "invalidValue"},
		{"group members not objects", "POST", "/Groups", `{"displayName":"g","members":["x"]}`, nil, 400, "invalidValue"},
		{"PUT with a wrong type", "PUT", "/Users/" + id, `{"userName":"x","title":{"a":1}}`, nil, 400, "invalidValue"},
		{"PATCH to a wrong type", "PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"name","value":"flat"}]}`, nil, 400, "invalidValue"},
		{"PATCH sub-attribute of a simple attribute", "PATCH", "/Users/" + id, `{"Operations":[{"op":"replace","path":"userName.first","value":"y"}]}`, nil, 400, "invalidPath"},
		{"PATCH value filter that cannot be created", "PATCH", "/Users/" + id, `{"Operations":[{"op":"add","path":"emails[type eq \"work\" or type eq \"home\"].value","value":"x"}]}`, nil, 400, "noTarget"},
		{"huge body", "POST", "/Users", `{"userName":"` + strings.Repeat("a", 10000) + `"}`, nil, 413, ""},
		{"wrong content type", "POST", "/Users", `{"userName":"a"}`, []string{"Content-Type", "text/plain"}, 415, "invalidSyntax"},
		{"form content type", "PATCH", "/Users/" + id, `a=b`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "invalidSyntax"},
		{"invalid filter", "GET", "/Users?filter=" + url.QueryEscape(`userName eq`), "", nil, 400, "invalidFilter"},
		{"invalid filter operator", "GET", "/Users?filter=" + url.QueryEscape(`userName like "x"`), "", nil, 400, "invalidFilter"},
		{"bad count", "GET", "/Users?count=ten", "", nil, 400, "invalidValue"},
		{"bad sortOrder", "GET", "/Users?sortOrder=up", "", nil, 400, "invalidValue"},
		{"bad attributes", "GET", "/Users?attributes=" + url.QueryEscape("a b"), "", nil, 400, "invalidValue"},
		{"path traversal", "GET", "/Users/..%2F..%2Fetc%2Fpasswd", "", nil, 400, "invalidValue"},
		{"dot-dot id", "DELETE", "/Users/%2E%2E", "", nil, 400, "invalidValue"},
		{"backslash id", "GET", "/Users/a%5Cb", "", nil, 400, "invalidValue"},
		{"control character id", "GET", "/Users/a%00b", "", nil, 400, "invalidValue"},
		{"unknown resource", "GET", "/Things", "", nil, 404, ""},
		{"unknown baseEntity", "GET", "/tenant-x/Users", "", nil, 404, ""},
		{"too deep path", "GET", "/Users/a/b", "", nil, 404, ""},
		{"method not allowed", "DELETE", "/Users", "", nil, 405, ""},
		{"PATCH without Operations", "PATCH", "/Users/" + id, `{"schemas":[]}`, nil, 400, "invalidSyntax"},
		{"PATCH unknown op", "PATCH", "/Users/" + id, `{"Operations":[{"op":"copy","path":"title"}]}`, nil, 400, "invalidSyntax"},
		{"unknown user", "GET", "/Users/does-not-exist", "", nil, 404, ""},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			r := c.do(cs.method, cs.path, cs.body, cs.hdr...)
			if r.status != cs.status {
				t.Fatalf("status %d, want %d: %s", r.status, cs.status, r.raw)
			}
			if r.str("status") != strconv.Itoa(cs.status) || r.str("scimType") != cs.scimType {
				t.Fatalf("error body %s, want status %d scimType %q", r.raw, cs.status, cs.scimType)
			}
			if schemas, _ := r.body["schemas"].([]any); len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
				t.Fatalf("not a SCIM error: %s", r.raw)
			}
		})
	}
	// Nothing was created or changed by the refused requests.
	all := c.do("GET", "/Users", "")
	if all.body["totalResults"] != 1.0 || all.resources()[0]["name"] != nil || all.resources()[0]["title"] != nil {
		t.Fatalf("refused requests changed the store: %s", all.raw)
	}
	// Attributes outside the core schemas are kept as sent (Microsoft's collection PUTs a misspelled "adreses"
	// and expects 200; Entra sends custom extension attributes), and the core schema stays listed.
	ok := c.do("PUT", "/Users/"+id, `{"userName":"x","adreses":[{"country":"Germany"}]}`)
	mustStatus(t, ok, 200, "an attribute outside the core schema")
	ext := "urn:ietf:params:scim:schemas:extension:CustomApp:2.0:User"
	ok = c.do("PATCH", "/Users/"+id, `{"Operations":[{"op":"add","path":"`+ext+`:badge","value":"B-7"}]}`)
	mustStatus(t, ok, 200, "a custom extension attribute")
	schemas, _ := ok.body["schemas"].([]any)
	if ok.body["adreses"] == nil || ok.body[ext].(map[string]any)["badge"] != "B-7" || len(schemas) != 2 ||
		schemas[0] != "urn:ietf:params:scim:schemas:core:2.0:User" || schemas[1] != ext {
		t.Fatalf("custom attributes or schemas: %s", ok.raw)
	}
}

func TestServerDiscovery(t *testing.T) { discovery(t, newSCIMServer) }

func discovery(t *testing.T, newSCIMServer serverFactory) {
	c, _ := newSCIMServer(t, scimserver.ServerOptions{})
	spc := c.do("GET", "/ServiceProviderConfig", "")
	mustStatus(t, spc, 200, "ServiceProviderConfig")
	for _, f := range []string{"patch", "bulk", "filter", "sort", "etag"} {
		if spc.body[f].(map[string]any)["supported"] != true {
			t.Errorf("ServiceProviderConfig %s not supported: %s", f, spc.raw)
		}
	}
	schemas := c.do("GET", "/Schemas", "")
	if schemas.body["totalResults"] != 3.0 {
		t.Fatalf("Schemas: %s", schemas.raw)
	}
	one := c.do("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "")
	mustStatus(t, one, 200, "one schema")
	if one.str("name") != "User" {
		t.Fatalf("User schema: %s", one.raw)
	}
	rts := c.do("GET", "/ResourceTypes", "")
	if rts.body["totalResults"] != 2.0 {
		t.Fatalf("ResourceTypes: %s", rts.raw)
	}
	mustStatus(t, c.do("GET", "/ResourceTypes/Group", ""), 200, "Group resource type")
	mustStatus(t, c.do("GET", "/serviceConfiguration", ""), 200, "Microsoft's name for ServiceProviderConfig")
	mustStatus(t, c.do("GET", "/ResourceTypes/Nope", ""), 404, "unknown resource type")
	mustStatus(t, c.do("POST", "/ServiceProviderConfig", "{}"), 405, "POST ServiceProviderConfig")
	ping := c.do("GET", "/ping", "")
	if ping.status != 200 || ping.raw != "hello" {
		t.Fatalf("ping: %d %q", ping.status, ping.raw)
	}
}

func TestServerBulk(t *testing.T) { bulk(t, newSCIMServer) }

func bulk(t *testing.T, newSCIMServer serverFactory) {
	c, st := newSCIMServer(t, scimserver.ServerOptions{})
	r := c.do("POST", "/Bulk", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":2,"Operations":[
		{"method":"POST","path":"/Users","bulkId":"u1","data":{"userName":"alice"}},
		{"method":"POST","path":"/Groups","bulkId":"g1","data":{"displayName":"Team","members":[{"value":"bulkId:u1"}]}},
		{"method":"PATCH","path":"/Users/bulkId:u1","data":{"Operations":[{"op":"add","path":"title","value":"Lead"}]}},
		{"method":"POST","path":"/Users","bulkId":"u2","data":{"userName":"ALICE"}},
		{"method":"DELETE","path":"/Users/bulkId:nope"},
		{"method":"POST","path":"/Users","bulkId":"u3","data":{"userName":"never"}}]}`)
	mustStatus(t, r, 200, "bulk")
	ops := r.body["Operations"].([]any)
	var statuses []string
	for _, o := range ops {
		statuses = append(statuses, o.(map[string]any)["status"].(string))
	}
	if got := strings.Join(statuses, ","); got != "201,201,200,409,409" {
		t.Fatalf("bulk statuses %s (failOnErrors=2 stops after the second error): %s", got, r.raw)
	}
	if ops[0].(map[string]any)["location"] == nil || ops[3].(map[string]any)["response"] == nil {
		t.Fatalf("bulk results: %s", r.raw)
	}
	alice, err := st.FindUser(t.Context(), "alice")
	if err != nil || alice["title"] != "Lead" {
		t.Fatalf("alice after bulk: %v %v", alice, err)
	}
	groups, _ := st.ListGroups(t.Context(), "")
	if len(groups) != 1 || len(groups[0]["members"].([]any)) != 1 {
		t.Fatalf("group after bulk: %v", groups)
	}
	if _, err := st.FindUser(t.Context(), "never"); err == nil {
		t.Fatal("bulk went on after failOnErrors")
	}
	mustStatus(t, c.do("POST", "/Bulk", `{"Operations":[{"method":"GET","path":"/Users"}]}`), 200, "bulk GET")
	bad := c.do("POST", "/Bulk", `{"Operations":[{"method":"POST","path":"/Bulk","bulkId":"x","data":{}}]}`)
	if bad.body["Operations"].([]any)[0].(map[string]any)["status"] != "400" {
		t.Fatalf("nested bulk: %s", bad.raw)
	}
}

func TestServerBaseEntities(t *testing.T) {
	a, b := scimStore(t, "a"), scimStore(t, "b")
	srv := httptest.NewServer(scimserver.NewServer(nil, scimserver.ServerOptions{Entities: map[string]endpoint.Endpoint{"client-a": a, "client-b": b}}))
	t.Cleanup(srv.Close)
	c := &scimClient{t: t, base: srv.URL}
	r := c.do("POST", "/client-a/Users", `{"userName":"x"}`)
	mustStatus(t, r, 201, "create under client-a")
	if loc := r.header.Get("Location"); !strings.Contains(loc, "/client-a/Users/") {
		t.Fatalf("Location %q lacks the baseEntity", loc)
	}
	if _, err := a.FindUser(t.Context(), "x"); err != nil {
		t.Fatal("user not in client-a's endpoint")
	}
	if _, err := b.FindUser(t.Context(), "x"); err == nil {
		t.Fatal("user leaked into client-b's endpoint")
	}
	mustStatus(t, c.do("GET", "/client-b/Users/"+r.str("id"), ""), 404, "client-a's user under client-b")
	mustStatus(t, c.do("GET", "/Users", ""), 404, "no endpoint without a baseEntity")
	mustStatus(t, c.do("GET", "/client-a/ping", ""), 200, "ping under a baseEntity")
}

// TestReadmeQueries runs the Node gateway README's query examples (as a browser or curl --globoff sends them,
// spaces and quotes percent-encoded) against the store.
func TestReadmeQueries(t *testing.T) {
	c, _ := newSCIMServer(t, scimserver.ServerOptions{})
	bj := c.do("POST", "/Users", `{"userName":"bjensen","name":{"givenName":"Barbara","familyName":"Jensen"},"emails":[{"value":"bjensen@example.com","type":"work"}]}`)
	mustStatus(t, bj, 201, "bjensen")
	mustStatus(t, c.do("POST", "/Users", `{"userName":"jsmith","name":{"givenName":"John","familyName":"Smith"},"emails":[{"value":"jsmith@example.com","type":"work"}]}`), 201, "jsmith")
	mustStatus(t, c.do("POST", "/Groups", `{"displayName":"Admins","members":[{"value":"`+bj.str("id")+`"}]}`), 201, "Admins")
	enc := strings.NewReplacer(" ", "%20", `"`, "%22")
	cases := []struct {
		url   string
		check func(r reply) bool
	}{
		{`/Users/bjensen`, func(r reply) bool { return r.str("id") == bj.str("id") }},
		{`/Groups/Admins`, func(r reply) bool { return r.str("displayName") == "Admins" }},
		{`/Users?filter=userName eq "bjensen"`, func(r reply) bool { return len(r.resources()) == 1 }},
		{`/Groups?filter=displayName eq "Admins"`, func(r reply) bool { return len(r.resources()) == 1 && r.resources()[0]["members"] != nil }},
		{`/Groups?filter=displayName eq "Admins"&excludedAttributes=members`, func(r reply) bool {
			return len(r.resources()) == 1 && r.resources()[0]["members"] == nil
		}},
		{`/Groups?filter=members.value eq "` + bj.str("id") + `"&attributes=id,displayName,members.value`, func(r reply) bool {
			return len(r.resources()) == 1 && r.resources()[0]["meta"] == nil
		}},
		{`/Groups?filter=members.display eq "bjensen"&attributes=id,displayName,members.value`, func(r reply) bool { return len(r.resources()) == 1 }},
		{`/Users?filter=userName eq "bjensen"&attributes=userName,id,name.givenName`, func(r reply) bool {
			res := r.resources()
			return len(res) == 1 && res[0]["name"].(map[string]any)["familyName"] == nil && res[0]["emails"] == nil
		}},
		{`/Users?filter=meta.created ge "2010-01-01T00:00:00Z"&attributes=userName,name.familyName,meta.created`, func(r reply) bool {
			res := r.resources()
			return len(res) == 2 && res[0]["meta"].(map[string]any)["created"] != nil && res[0]["meta"].(map[string]any)["location"] == nil
		}},
		{`/Users?filter=emails.value co "@example.com"&attributes=userName,name.familyName,emails&sortBy=name.familyName&sortOrder=descending`, func(r reply) bool {
			res := r.resources()
			return len(res) == 2 && res[0]["userName"] == "jsmith" && res[1]["userName"] == "bjensen"
		}},
	}
	for _, cs := range cases {
		r := c.do("GET", enc.Replace(cs.url), "")
		if r.status != 200 || !cs.check(r) {
			t.Errorf("%s: %d %s", cs.url, r.status, r.raw)
		}
	}
	// A PATCH adding a member that does not exist is the client's mistake, not a missing group.
	bad := c.do("PATCH", "/Groups/Admins", `{"Operations":[{"op":"add","path":"members","value":[{"value":"no-such-user"}]}]}`)
	if bad.status != 400 || bad.str("scimType") != "invalidValue" {
		t.Fatalf("unknown member: %s", bad.raw)
	}
}

// TestServerGroupMemberAsBareID: a PATCH adding a member as a bare id string is read as {"value": id}; an id
// that names no user is 400 invalidValue.
func TestServerGroupMemberAsBareID(t *testing.T) {
	c, _ := newSCIMServer(t, scimserver.ServerOptions{})
	u := c.do("POST", "/Users", `{"userName":"bare"}`)
	g := c.do("POST", "/Groups", `{"displayName":"Bare"}`)
	r := c.do("PATCH", "/Groups/"+g.str("id"), `{"Operations":[{"op":"add","path":"members","value":"`+u.str("id")+`"}]}`)
	mustStatus(t, r, 200, "member as a bare id")
	if m, _ := r.body["members"].([]any); len(m) != 1 || m[0].(map[string]any)["value"] != u.str("id") {
		t.Fatalf("members: %s", r.raw)
	}
	bad := c.do("PATCH", "/Groups/"+g.str("id"), `{"Operations":[{"op":"add","path":"members","value":"string id 1"}]}`)
	if bad.status != 400 || bad.str("scimType") != "invalidValue" || !strings.Contains(bad.str("detail"), "members") {
		t.Fatalf("unknown bare id: %s", bad.raw)
	}
}
