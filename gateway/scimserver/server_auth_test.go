package scimserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
)

func TestServerAuth(t *testing.T) {
	a, b := scimStore(t, "a"), scimStore(t, "b")
	srv := httptest.NewServer(scimserver.NewServer(a, scimserver.ServerOptions{
		Entities: map[string]endpoint.Endpoint{"client-b": b},
		Auth: scimserver.Auth{
			Basic: []scimserver.BasicAuth{
				{Username: "gwadmin", Password: "password"},
				{Username: "reader", Password: "readpw", Access: scimserver.Access{ReadOnly: true}},
				{Username: "onlyb", Password: "bpw", Access: scimserver.Access{BaseEntities: []string{"client-b"}}},
			},
			BearerToken: []scimserver.BearerToken{{Token: "entra-secret-token"}},
		},
	}))
	t.Cleanup(srv.Close)
	basic := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	cases := []struct {
		name   string
		auth   func(*http.Request)
		method string
		path   string
		status int
	}{
		{"no credentials", nil, "GET", "/Users", 401},
		{"wrong password", basic("gwadmin", "nope"), "GET", "/Users", 401},
		{"unknown user", basic("nobody", "password"), "GET", "/Users", 401},
		{"password of another user", basic("gwadmin", "readpw"), "GET", "/Users", 401},
		{"wrong token", bearer("entra-secret-tokex"), "GET", "/Users", 401},
		{"empty bearer", bearer(""), "GET", "/Users", 401},
		{"basic ok", basic("gwadmin", "password"), "GET", "/Users", 200},
		{"bearer ok", bearer("entra-secret-token"), "POST", "/Users", 201},
		{"read-only GET", basic("reader", "readpw"), "GET", "/Users", 200},
		{"read-only POST", basic("reader", "readpw"), "POST", "/Users", 403},
		{"read-only search", basic("reader", "readpw"), "POST", "/Users/.search", 200},
		{"read-only bulk", basic("reader", "readpw"), "POST", "/Bulk", 403},
		{"baseEntity allowed", basic("onlyb", "bpw"), "GET", "/client-b/Users", 200},
		{"baseEntity not allowed", basic("onlyb", "bpw"), "GET", "/Users", 403},
		{"ping needs no auth", nil, "GET", "/ping", 200},
	}
	var unauthorized []string
	for i, cs := range cases {
		c := &scimClient{t: t, base: srv.URL, auth: cs.auth}
		body := ""
		if cs.method == "POST" {
			body = `{"userName":"u` + string(rune('a'+i)) + `"}`
		}
		r := c.do(cs.method, cs.path, body)
		if r.status != cs.status {
			t.Errorf("%s: status %d, want %d: %s", cs.name, r.status, cs.status, r.raw)
		}
		if r.status == 401 {
			unauthorized = append(unauthorized, r.raw)
			if !strings.Contains(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s: no WWW-Authenticate", cs.name)
			}
		}
	}
	// Failed authentication never reveals which part was wrong.
	for _, u := range unauthorized[1:] {
		if u != unauthorized[0] {
			t.Fatalf("401 bodies differ: %s vs %s", u, unauthorized[0])
		}
	}
}

func TestServerIPAllowList(t *testing.T) {
	st := scimStore(t, "ip")
	h := scimserver.NewServer(st, scimserver.ServerOptions{
		IPAllowList:    []netip.Prefix{netip.MustParsePrefix("13.64.151.161/32"), netip.MustParsePrefix("2603:1056:2000::/48")},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	cases := []struct {
		remote, xff string
		status      int
	}{
		{"13.64.151.161:5000", "", 200},
		{"13.64.151.162:5000", "", 403},
		{"[2603:1056:2000::5]:443", "", 200},
		{"203.0.113.9:5000", "13.64.151.161", 403},            // X-Forwarded-For from an untrusted peer is ignored
		{"10.1.2.3:5000", "13.64.151.161", 200},               // from a trusted proxy it names the client
		{"10.1.2.3:5000", "13.64.151.161, 10.9.9.9", 200},     // proxies chained
		{"10.1.2.3:5000", "13.64.151.161, 198.51.100.7", 403}, // the right-most untrusted hop is the client
		{"10.1.2.3:5000", "", 403},
		{"10.1.2.3:5000", "garbage", 403},
	}
	for _, cs := range cases {
		req := httptest.NewRequest("GET", "/Users", nil)
		req.RemoteAddr = cs.remote
		if cs.xff != "" {
			req.Header.Set("X-Forwarded-For", cs.xff)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != cs.status {
			t.Errorf("remote %s X-Forwarded-For %q: status %d, want %d", cs.remote, cs.xff, rec.Code, cs.status)
		}
	}
}

// writeCert writes a self-signed certificate and key for localhost into dir/certs.
func writeCert(t *testing.T, dir string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "SCIM Gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "certs"), 0o700)
	os.WriteFile(filepath.Join(dir, "certs", "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "certs", "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "certs", "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

// TestServerConfigFromFile loads the Node gateway's auth/certificate/ipAllowList keys from a config file and
// serves TLS with them.
func TestServerConfigFromFile(t *testing.T) {
	t.Setenv("SEED", "server-config-test")
	dir := t.TempDir()
	writeCert(t, dir)
	path := filepath.Join(dir, "plugin-test.json")
	os.WriteFile(path, []byte(`{
  "scimgateway": {
    "port": 8880,
    "auth": {
      "basic": [
        {"username": "gwadmin", "password": "password", "readOnly": false, "baseEntities": []},
        {"username": null, "password": null}
      ],
      "bearerToken": [{"token": "entra-token", "readOnly": true, "baseEntities": ["undefined"]}, {"token": null}]
    },
    "certificate": {"key": "key.pem", "cert": "cert.pem", "ca": ["ca.pem"]},
    "ipAllowList": ["127.0.0.1/32", "::1"],
    "stream": {"publisher": {"enabled": false, "timeout": 45}}
  },
  "endpoint": {"type": "store"}
}`), 0o600)
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(path); strings.Contains(string(raw), `"password"`+`: "password"`) || strings.Contains(string(raw), "entra-token") {
		t.Fatalf("secrets not encrypted at rest:\n%s", raw)
	}
	sc, err := scimserver.LoadServerConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Auth.Basic) != 1 || len(sc.Auth.BearerToken) != 1 || sc.Auth.BearerToken[0].ReadOnly != true || sc.Auth.Basic[0].Password.Reveal() != "password" {
		t.Fatalf("auth: %+v", sc.Auth)
	}
	if d, err := scimserver.PublisherTimeout(cfg); err != nil || d != 45*time.Second {
		t.Fatalf("publisher timeout %v %v", d, err)
	}
	tlsCfg, err := sc.TLSConfig(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tlsCfg.Certificates[0].Certificate) != 2 {
		t.Fatalf("the CA is not sent along: %d certificates", len(tlsCfg.Certificates[0].Certificate))
	}
	srv := httptest.NewUnstartedServer(scimserver.NewServer(scimStore(t, "tls"), sc.Options("acme", nil)))
	srv.TLS = tlsCfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(filepath.Join(dir, "certs", "ca.pem"))
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := &scimClient{t: t, base: srv.URL, hc: hc, auth: func(r *http.Request) { r.SetBasicAuth("gwadmin", "password") }}
	r := c.do("POST", "/Users", `{"userName":"tls"}`)
	mustStatus(t, r, 201, "create over TLS")
	if !strings.HasPrefix(r.header.Get("Location"), "https://") {
		t.Fatalf("Location %q is not https", r.header.Get("Location"))
	}
	c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer entra-token") }
	mustStatus(t, c.do("POST", "/Users", `{"userName":"ro"}`), 403, "read-only bearer")

	if got := sc.ListenAddr(8880); got != ":8880" {
		t.Errorf("listen address %q, want every interface", got)
	}

	// Invalid values are reported with their keys; a PKCS#12 bundle is refused, never served as plain HTTP.
	os.WriteFile(path, []byte(`{"scimgateway":{"port":8880,"auth":{"basic":[{"username":"a","password":null}]},
		"ipAllowList":["300.1.1.1/8"],"certificate":{"key":"k.pem"}},"endpoint":{}}`), 0o600)
	cfg, err = gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = scimserver.LoadServerConfig(cfg)
	for _, want := range []string{"scimgateway.auth.basic[0]", "scimgateway.auth:", "scimgateway.ipAllowList[0]", "scimgateway.certificate"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	os.WriteFile(path, []byte(`{"scimgateway":{"port":8880,"localhostonly":true,"auth":{"basic":[{"username":"a","password":"b"}]},
		"certificate":{"key":null,"cert":null,"ca":null,"pfx":{"bundle":"certbundle.pfx","password":"pfx-pw"}}},"endpoint":{}}`), 0o600)
	if cfg, err = gateway.LoadConfig(path); err != nil {
		t.Fatal(err)
	}
	sc, err = scimserver.LoadServerConfig(cfg)
	if got := sc.ListenAddr(8880); got != "127.0.0.1:8880" {
		t.Errorf("localhostonly: listen address %q, want 127.0.0.1:8880", got)
	}
	for _, want := range []string{"scimgateway.certificate.pfx", "certbundle.pfx", "openssl pkcs12"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestAppRoles(t *testing.T) {
	st := scimStore(t, "roles")
	srv := httptest.NewServer(scimserver.NewServer(st, scimserver.ServerOptions{Tenant: "acme"}))
	t.Cleanup(srv.Close)
	c := &scimClient{t: t, base: srv.URL}
	ids := map[string]string{}
	for _, n := range []string{"Sales", "Admins"} {
		r := c.do("POST", "/Groups", `{"displayName":"`+n+`"}`)
		mustStatus(t, r, 201, "create group")
		ids[n] = r.str("id")
	}
	get := func() []map[string]any {
		r := c.do("GET", "/AppRoles", "")
		mustStatus(t, r, 200, "AppRoles")
		var out []map[string]any
		for _, e := range r.resources()[0]["appRoles"].([]any) {
			out = append(out, e.(map[string]any))
		}
		return out
	}
	roles := get()
	if len(roles) != 2 || roles[0]["displayName"] != "Admins" || roles[0]["value"] != ids["Admins"] || roles[0]["isEnabled"] != true ||
		roles[0]["allowedMemberTypes"].([]any)[0] != "User" || roles[0]["description"] == nil {
		t.Fatalf("appRoles: %v", roles)
	}
	if roles[0]["id"] != scimserver.AppRoleID("acme", "", ids["Admins"]) {
		t.Fatalf("id %v is not the derived one", roles[0]["id"])
	}
	if scimserver.AppRoleID("acme", "", "g1") == scimserver.AppRoleID("other", "", "g1") {
		t.Fatal("tenants share app role ids")
	}
	// The same on every machine and in every version: UUIDv5 (namespace 6f1d9a52-2b3c-5e7a-9c41-53c1d0e8a7b2,
	// name tenant NUL baseEntity NUL group id), values computed independently with Python's uuid.uuid5. A
	// changed derivation would make every re-import into the Entra manifest replace all app roles.
	for _, c := range []struct{ tenant, baseEntity, group, want string }{
		{"acme", "", "5a1c6d2e-0000-4000-8000-000000000001", "99bbc27a-afd1-5b40-add3-a92ce838a59e"},
		{"acme", "client-a", "Admins", "99318855-6eb5-5093-a57c-b801c3bcb8c7"},
	} {
		if got := scimserver.AppRoleID(c.tenant, c.baseEntity, c.group); got != c.want {
			t.Errorf("AppRoleID(%q, %q, %q) = %s, want %s", c.tenant, c.baseEntity, c.group, got, c.want)
		}
	}
	// Stable across runs: a new server over the same groups gives the same ids.
	c.do("POST", "/Groups", `{"displayName":"Zeta"}`)
	srv2 := httptest.NewServer(scimserver.NewServer(st, scimserver.ServerOptions{Tenant: "acme"}))
	t.Cleanup(srv2.Close)
	c.base = srv2.URL
	again := get()
	if len(again) != 3 || again[0]["id"] != roles[0]["id"] || again[1]["id"] != roles[1]["id"] {
		t.Fatalf("ids changed: %v vs %v", again, roles)
	}
}
