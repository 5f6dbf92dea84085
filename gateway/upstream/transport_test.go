package upstream

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// closedURL is a base URL where nothing listens.
func closedURL(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

func TestFailoverToTheNextBaseURLAndStaysThere(t *testing.T) {
	var hits atomic.Int32
	h := newStoreServer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ep := openYAML(t, "type: scim\nbase_urls: ["+closedURL(t)+", "+srv.URL+"]\n", t.TempDir())
	defer ep.Close()
	u, err := ep.CreateUser(ctx(t), scim.User{"userName": "failover@example.com"})
	if err != nil {
		t.Fatalf("CreateUser with the first base URL down: %v", err)
	}
	if _, err := ep.GetUser(ctx(t), u["id"].(string)); err != nil {
		t.Fatal(err)
	}
	if c := ep.(*Endpoint).c.current; c != 1 {
		t.Errorf("current base URL index = %d, want 1 (the one that answered)", c)
	}
	if hits.Load() != 2 {
		t.Errorf("second server got %d requests, want 2", hits.Load())
	}

	all := openYAML(t, "type: scim\nbase_urls: ["+closedURL(t)+", "+closedURL(t)+"]\n", t.TempDir())
	defer all.Close()
	_, err = all.FindUser(ctx(t), "failover@example.com")
	if !errors.Is(err, endpoint.ErrUnavailable) {
		t.Fatalf("all base URLs down: %v, want ErrUnavailable", err)
	}
}

func TestTooManyRequestsIsUnavailableWithRetryAfter(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(status)
		}))
		ep := openYAML(t, "type: scim\nbase_urls: ["+srv.URL+"]\n", t.TempDir())
		_, err := ep.GetUser(ctx(t), "x")
		if !errors.Is(err, endpoint.ErrUnavailable) {
			t.Errorf("HTTP %d: %v, want ErrUnavailable", status, err)
		}
		var ra interface{ RetryAfter() time.Duration }
		if !errors.As(err, &ra) || ra.RetryAfter() != 7*time.Second {
			t.Errorf("HTTP %d: %v, want an error with RetryAfter() of 7s", status, err)
		}
		ep.Close()
		srv.Close()
	}
	if d, ok := retryAfter(time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)); !ok || d < 80*time.Second || d > 90*time.Second {
		t.Errorf("Retry-After as HTTP date: %v %v", d, ok)
	}
}

func TestStatusMapping(t *testing.T) {
	for status, want := range map[int]error{
		400: endpoint.ErrInvalid, 401: endpoint.ErrUnavailable, 403: endpoint.ErrUnavailable, 404: endpoint.ErrNotFound,
		409: endpoint.ErrConflict, 422: endpoint.ErrInvalid, 500: endpoint.ErrUnavailable, 502: endpoint.ErrUnavailable,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			w.Write([]byte(`{"detail":"told by the test"}`))
		}))
		ep := openYAML(t, "type: scim\nbase_urls: ["+srv.URL+"]\n", t.TempDir())
		_, err := ep.GetUser(ctx(t), "x")
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "told by the test") {
			t.Errorf("HTTP %d: %v, want %v with the detail", status, err, want)
		}
		ep.Close()
		srv.Close()
	}
}

// authServer wraps the SCIM server with a credential check.
func authServer(t *testing.T, check func(r *http.Request) bool) *httptest.Server {
	h := newStoreServer(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !check(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBasicAndBearerAuth(t *testing.T) {
	basic := authServer(t, func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		return ok && u == "gwadmin" && p == "s3cret-pw"
	})
	ep := openYAML(t, "type: scim\nbase_urls: ["+basic.URL+"]\nauth: {type: basic, username: gwadmin, password: s3cret-pw}\n", t.TempDir())
	if _, err := ep.ListUsers(ctx(t), ""); err != nil {
		t.Errorf("basic auth: %v", err)
	}
	ep.Close()
	wrong := openYAML(t, "type: scim\nbase_urls: ["+basic.URL+"]\nauth: {type: basic, username: gwadmin, password: wrong-pw}\n", t.TempDir())
	_, err := wrong.ListUsers(ctx(t), "")
	if !errors.Is(err, endpoint.ErrUnavailable) || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("wrong password: %v, want ErrUnavailable without the password", err)
	}
	wrong.Close()

	bearer := authServer(t, func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer tok-123" && r.Header.Get("X-Tenant") == "acme"
	})
	ep = openYAML(t, "type: scim\nbase_urls: ["+bearer.URL+"]\nauth: {type: bearer, token: tok-123}\nheaders: {X-Tenant: acme}\n", t.TempDir())
	if _, err := ep.ListUsers(ctx(t), ""); err != nil {
		t.Errorf("bearer auth: %v", err)
	}
	ep.Close()
}

func TestOAuthClientCredentialsTokenIsCachedAndRenewedAfter401(t *testing.T) {
	var issued atomic.Int32
	token := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret := r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		if r.Method != "POST" || r.PostFormValue("grant_type") != "client_credentials" || id != "gw" || secret != "cs:+/" ||
			r.PostFormValue("scope") != "scim.write" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		n := issued.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + string(rune('0'+n)), "token_type": "Bearer", "expires_in": 3600})
	}))
	defer token.Close()
	var valid atomic.Value
	valid.Store("Bearer at-1")
	srv := authServer(t, func(r *http.Request) bool { return r.Header.Get("Authorization") == valid.Load().(string) })
	cfg := "type: scim\nbase_urls: [" + srv.URL + "]\nauth: {type: oauth, token_url: " + token.URL +
		", client_id: gw, client_secret: 'cs:+/', scope: scim.write}\n"
	ep := openYAML(t, cfg, t.TempDir())
	defer ep.Close()
	for range 3 {
		if _, err := ep.ListUsers(ctx(t), ""); err != nil {
			t.Fatalf("oauth: %v", err)
		}
	}
	if issued.Load() != 1 {
		t.Fatalf("%d tokens fetched for 3 requests, want 1 (cached)", issued.Load())
	}
	valid.Store("Bearer at-2") // the application revoked at-1
	if _, err := ep.ListUsers(ctx(t), ""); !errors.Is(err, endpoint.ErrUnavailable) {
		t.Fatalf("revoked token: %v, want ErrUnavailable", err)
	}
	if _, err := ep.ListUsers(ctx(t), ""); err != nil {
		t.Fatalf("after 401 a new token is fetched: %v", err)
	}

	bad := openYAML(t, strings.Replace(cfg, "client_id: gw", "client_id: other", 1), t.TempDir())
	defer bad.Close()
	if _, err := bad.ListUsers(ctx(t), ""); !errors.Is(err, endpoint.ErrUnavailable) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("token request refused: %v, want ErrUnavailable naming invalid_client", err)
	}
}

func TestTLSWithCustomCA(t *testing.T) {
	srv := httptest.NewTLSServer(newStoreServer(t))
	defer srv.Close()
	dir := t.TempDir()
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	untrusted := openYAML(t, "type: scim\nbase_urls: ["+srv.URL+"]\n", dir)
	if _, err := untrusted.ListUsers(ctx(t), ""); !errors.Is(err, endpoint.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("server certificate of an unknown CA: %v, want ErrUnavailable about the certificate", err)
	}
	untrusted.Close()
	ep := openYAML(t, "type: scim\nbase_urls: ["+srv.URL+"]\ntls: {ca: ca.pem}\n", dir)
	defer ep.Close()
	if _, err := ep.CreateUser(ctx(t), scim.User{"userName": "tls@example.com"}); err != nil {
		t.Fatalf("with tls.ca (relative to the config directory): %v", err)
	}
}

func TestProxyAndTimeout(t *testing.T) {
	srv := httptest.NewServer(newStoreServer(t))
	defer srv.Close()
	var proxied atomic.Int32
	var proxyAuth atomic.Value
	proxyAuth.Store("")
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A forward proxy gets the absolute URL; pass it on.
		proxied.Add(1)
		proxyAuth.Store(r.Header.Get("Proxy-Authorization"))
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				break
			}
		}
	}))
	defer proxy.Close()
	ep := openYAML(t, "type: scim\nbase_urls: ["+srv.URL+"]\nproxy: {url: "+proxy.URL+", username: pu, password: pp}\n", t.TempDir())
	defer ep.Close()
	if _, err := ep.CreateUser(ctx(t), scim.User{"userName": "proxy@example.com"}); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if proxied.Load() == 0 || !strings.HasPrefix(proxyAuth.Load().(string), "Basic ") {
		t.Fatalf("proxy saw %d requests, Proxy-Authorization %q", proxied.Load(), proxyAuth.Load())
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	te := openYAML(t, "type: scim\nbase_urls: ["+slow.URL+"]\ntimeout: 200ms\n", t.TempDir())
	defer te.Close()
	start := time.Now()
	if _, err := te.GetUser(ctx(t), "x"); !errors.Is(err, endpoint.ErrUnavailable) {
		t.Fatalf("slow upstream: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("request took %v with timeout 200ms", d)
	}
}

func TestConfigErrors(t *testing.T) {
	for doc, want := range map[string]string{
		"type: scim\n":                       "base_urls",
		"type: scim\nbase_urls: [ftp://x]\n": "base_urls[0]",
		"type: scim\nbase_urls: [http://x]\nbase_url: http://y\n":   "base_url",
		"type: scim\nbase_urls: [http://x]\nauth: {type: ntlm}\n":   "auth.type",
		"type: scim\nbase_urls: [http://x]\nauth: {type: bearer}\n": "auth.token",
		"type: scim\nbase_urls: [http://x]\ntls: {ca: nope.pem}\n":  "tls.ca",
	} {
		var n yamlNode
		n.parse(t, doc)
		_, err := OpenConfig(context.Background(), n.root, endpoint.Env{Dir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", doc, err, want)
		}
	}
}

// TestListStopsWhenPagingIsIgnored: a service provider that always answers the first page (ignoring
// startIndex) with a larger totalResults must not make ListUsers loop.
func TestListStopsWhenPagingIsIgnored(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"totalResults": 1000, "Resources": []any{
			map[string]any{"id": "1", "userName": "a"}, map[string]any{"id": "2", "userName": "b"}}})
	}))
	defer srv.Close()
	ep := openYAML(t, "type: scim\nbase_urls: ["+srv.URL+"]\npage_size: 2\n", t.TempDir())
	defer ep.Close()
	us, err := ep.ListUsers(ctx(t), "")
	if err != nil || len(us) != 2 {
		t.Fatalf("ListUsers = %d users, %v; want the 2 distinct ones", len(us), err)
	}
}
