package scimserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/scim"
)

// TestBusyServerAnswers429: beyond MaxInFlight requests in work, a request is refused at once with 429 and
// Retry-After; once a slot is free, requests are served again.
func TestBusyServerAnswers429(t *testing.T) {
	st := scimStore(t, "busy")
	srv := httptest.NewServer(scimserver.NewServer(st, scimserver.ServerOptions{MaxInFlight: 1}))
	t.Cleanup(srv.Close)
	// A create whose body never ends holds the one slot.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/Users", pr)
	req.Header.Set("Content-Type", "application/scim+json")
	done := make(chan *http.Response, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- res
	}()
	pw.Write([]byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],`))
	c := &scimClient{t: t, base: srv.URL}
	var r reply
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if r = c.do("GET", "/Users?count=1", ""); r.status == http.StatusTooManyRequests || time.Now().After(deadline) {
			break
		}
	}
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("with the slot taken: %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	pw.Write([]byte(`"userName":"slow"}`))
	pw.Close()
	if res := <-done; res == nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("the slow create: %v", res)
	}
	if r := c.do("GET", "/Users?count=1", ""); r.status != http.StatusOK {
		t.Fatalf("after the slot was freed: %d %s", r.status, r.raw)
	}
}

// TestPagedListReadsPages: pages of the embedded store cover every user once, with the total; filters on
// userName and id find one user.
func TestPagedListReadsPages(t *testing.T) {
	st := scimStore(t, "pages")
	ctx := context.Background()
	ids := map[string]string{}
	for i := range 250 {
		u, err := st.CreateUser(ctx, scim.User{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": fmt.Sprintf("user%03d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[u["userName"].(string)] = u["id"].(string)
	}
	srv := httptest.NewServer(scimserver.NewServer(st, scimserver.ServerOptions{}))
	t.Cleanup(srv.Close)
	c := &scimClient{t: t, base: srv.URL}
	seen := map[string]bool{}
	for start := 1; start <= 250; start += 60 {
		r := c.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=60&attributes=userName", start), "")
		if r.status != 200 || r.body["totalResults"] != 250.0 || r.body["startIndex"] != float64(start) {
			t.Fatalf("page at %d: %d %v %v", start, r.status, r.body["totalResults"], r.body["startIndex"])
		}
		res := r.resources()
		if want := min(60, 250-start+1); len(res) != want || r.body["itemsPerPage"] != float64(want) {
			t.Fatalf("page at %d has %d users, want %d", start, len(res), want)
		}
		for _, u := range res {
			n := u["userName"].(string)
			if seen[n] {
				t.Fatalf("%s on two pages", n)
			}
			seen[n] = true
		}
	}
	if len(seen) != 250 {
		t.Fatalf("the pages held %d users, want 250", len(seen))
	}
	for _, f := range []string{`userName eq "user123"`, `id eq "` + ids["user123"] + `"`} {
		r := c.do("GET", "/Users?filter="+url.QueryEscape(f), "")
		if res := r.resources(); r.status != 200 || len(res) != 1 || res[0]["userName"] != "user123" {
			t.Fatalf("filter %s: %d %s", f, r.status, r.raw)
		}
	}
	if r := c.do("GET", "/Users?filter="+url.QueryEscape(`id eq "no-such-id"`), ""); r.status != 200 || r.body["totalResults"] != 0.0 {
		t.Fatalf("filter on an unknown id: %d %s", r.status, r.raw)
	}
}

// TestErrorBodyDoesNotEchoTheRequest: a 200 KB malformed filter is refused with a short error.
func TestErrorBodyDoesNotEchoTheRequest(t *testing.T) {
	srv := httptest.NewServer(scimserver.NewServer(scimStore(t, "echo"), scimserver.ServerOptions{}))
	t.Cleanup(srv.Close)
	c := &scimClient{t: t, base: srv.URL}
	filter := `userName eq "` + strings.Repeat("A", 200_000) + ` and (`
	r := c.do("GET", "/Users?filter="+url.QueryEscape(filter), "")
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d", r.status)
	}
	if len(r.raw) > 1024 || strings.Contains(r.raw, strings.Repeat("A", 400)) {
		t.Fatalf("the error body is %d bytes and echoes the filter", len(r.raw))
	}
}
