package hr

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
)

func samlAuthConfig(tokenURL, certFile string) config.Auth {
	return config.Auth{OAuthSAMLAssertion: &config.OAuthSAMLAssertion{
		ClientID: "ZTk2NjRkYzQ1YzU2ZTRmZjk5NWU4ZjA2ZmY4Mw", CompanyID: "SFCPART000123", NameID: "scim-stream-api",
		KeyFile: "sf-key.pem", CertFile: certFile, TokenURL: tokenURL,
		Issuer: "scim-stream", Audience: "scim-stream", UserIdentifierFormat: "userName", LifeTime: 3600,
	}}
}

// The documentation's SuccessFactors example end to end: a signed SAML assertion exchanged for a token, the
// docs' query string (raw spaces), OData v2 paging, several employments per person.
func TestSAMLAssertionSuccessFactors(t *testing.T) {
	for _, certFile := range []string{"", "sf-cert.pem"} {
		t.Run("cert_file="+certFile, func(t *testing.T) {
			clk := &clock{t: fixedNow}
			sf, srv := imitation(t, 10, 3, clk)
			dir := t.TempDir()
			kp := writeKeyPair(t, dir, "sf-key.pem", certFile)
			sf.AddSAMLClient(successfactors.SAMLClient{ClientID: "ZTk2NjRkYzQ1YzU2ZTRmZjk5NWU4ZjA2ZmY4Mw", CompanyID: "SFCPART000123",
				Cert: kp.Cert, Users: []string{"scim-stream-api"}, Audience: "scim-stream"})
			auth := samlAuthConfig(srv.URL+"/oauth/token", certFile)
			auth.BaseURLs = []string{srv.URL}
			// customPageSize=100 in the docs' query; the imitation's page size only applies without it.
			q := strings.Replace(docsQuery, "customPageSize=100", "customPageSize=3", 1)
			s := newSource(t, tenant(auth, q, "d.results"), srv.Client(), clk, nil, dir)

			recs := collect(t, s)
			if want := sf.Company.IDs(); !slices.Equal(ids(recs), want) {
				t.Fatalf("ids = %v, want %v", ids(recs), want)
			}
			// Person 1005 has an ended employment listed before the current one.
			r := recs[4]
			emps := r.Data["employmentNav"].(map[string]any)["results"].([]any)
			if len(emps) != 2 {
				t.Fatalf("1005 has %d employments, want 2: %v", len(emps), emps)
			}
			job := emps[1].(map[string]any)["jobInfoNav"].(map[string]any)["results"].([]any)[0].(map[string]any)
			if job["jobTitle"] == "" || job["companyNav"].(map[string]any)["countryOfRegistrationNav"] == nil {
				t.Fatalf("expanded job info missing: %v", job)
			}
			if sd, _ := emps[0].(map[string]any)["startDate"].(string); !strings.HasPrefix(sd, "/Date(") {
				t.Fatalf("startDate = %q, want /Date(ms)/", sd)
			}
			reqs := sf.Requests()
			if len(reqs) != 4 { // 10 people, 3 per page
				t.Fatalf("%d API requests, want 4 pages", len(reqs))
			}
			for _, rq := range reqs {
				if rq.Caller != "bearer client=ZTk2NjRkYzQ1YzU2ZTRmZjk5NWU4ZjA2ZmY4Mw" || rq.Status != 200 {
					t.Fatalf("request %+v: want a bearer token of the SAML client and 200", rq)
				}
			}

			// The token is cached until it nears expiry: a second collection signs no new assertion.
			collect(t, s)
			if n := sf.Stats().TokensIssued; n != 1 {
				t.Fatalf("%d tokens issued over two collections, want 1 (cached)", n)
			}
			// Past the token's lifetime (24h) a new one is obtained.
			clk.Add(25 * time.Hour)
			collect(t, s)
			if n := sf.Stats().TokensIssued; n != 2 {
				t.Fatalf("%d tokens issued after expiry, want 2", n)
			}
			// A token revoked early is answered by 401; the source gets a new one and goes on.
			sf.ExpireTokens()
			if got := collect(t, s); len(got) != 10 {
				t.Fatalf("after revocation: %d records, want 10", len(got))
			}
			if n := sf.Stats().TokensIssued; n != 3 {
				t.Fatalf("%d tokens issued after revocation, want 3", n)
			}
		})
	}
}

func TestSAMLAssertionRefused(t *testing.T) {
	clk := &clock{t: fixedNow}
	cases := []struct {
		name   string
		client func(kp, other *successfactors.KeyPair) successfactors.SAMLClient
		change func(a *config.Auth)
		want   string
	}{
		{"signed with another key", func(kp, other *successfactors.KeyPair) successfactors.SAMLClient {
			return successfactors.SAMLClient{ClientID: "api-key", CompanyID: "C1", Cert: other.Cert}
		}, nil, "signature"},
		{"wrong audience", func(kp, _ *successfactors.KeyPair) successfactors.SAMLClient {
			return successfactors.SAMLClient{ClientID: "api-key", CompanyID: "C1", Cert: kp.Cert, Audience: "www.successfactors.com"}
		}, nil, "audience"},
		{"wrong company", func(kp, _ *successfactors.KeyPair) successfactors.SAMLClient {
			return successfactors.SAMLClient{ClientID: "api-key", CompanyID: "OTHER", Cert: kp.Cert}
		}, nil, "company_id"},
		{"unknown API user", func(kp, _ *successfactors.KeyPair) successfactors.SAMLClient {
			return successfactors.SAMLClient{ClientID: "api-key", CompanyID: "C1", Cert: kp.Cert, Users: []string{"someone-else"}}
		}, nil, "NameID"},
		{"assertion lifetime already over on the server's clock", func(kp, _ *successfactors.KeyPair) successfactors.SAMLClient {
			return successfactors.SAMLClient{ClientID: "api-key", CompanyID: "C1", Cert: kp.Cert}
		}, func(a *config.Auth) { a.OAuthSAMLAssertion.LifeTime = 1 }, "not valid now"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sf, srv := imitation(t, 2, 10, clk)
			dir := t.TempDir()
			kp := writeKeyPair(t, dir, "sf-key.pem", "")
			other, err := successfactors.GenerateKeyPair("other")
			if err != nil {
				t.Fatal(err)
			}
			sf.AddSAMLClient(c.client(kp, other))
			auth := samlAuthConfig(srv.URL+"/oauth/token", "")
			auth.OAuthSAMLAssertion.ClientID, auth.OAuthSAMLAssertion.CompanyID = "api-key", "C1"
			auth.BaseURLs = []string{srv.URL}
			if c.change != nil {
				c.change(&auth)
			}
			tc := tenant(auth, "/odata/v2/PerPerson", "d.results")
			s := newSource(t, tc, srv.Client(), clk, nil, dir)
			if c.name == "assertion lifetime already over on the server's clock" {
				// the collector's clock is two minutes behind the server's: a 1 s assertion is stale on arrival
				s.now = func() time.Time { return clk.Now().Add(-3 * time.Minute) }
			}
			_, err = collectErr(s)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "invalid_grant") ||
				!strings.Contains(err.Error(), `hr tenant "mycompany"`) {
				t.Fatalf("err = %v; want invalid_grant naming %q and the tenant", err, c.want)
			}
			if sf.Stats().Requests != 0 {
				t.Fatalf("API called without a token")
			}
		})
	}
}

func TestClientCredentialsRoundRobin(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 10, 2, clk)
	sf.AddClient("client-a", "secret-a-123")
	sf.AddClient("client-b", "secret-b-456")
	auth := config.Auth{BaseURLs: []string{srv.URL}, OAuth: &config.OAuth{Clients: []config.OAuthClient{
		{ClientID: "client-a", ClientSecret: "secret-a-123"}, {ClientID: "client-b", ClientSecret: "secret-b-456"}}}}
	s := newSource(t, tenant(auth, "/odata/v2/PerPerson?$format=json", "d.results"), srv.Client(), clk, nil, "")
	if recs := collect(t, s); len(recs) != 10 {
		t.Fatalf("%d records, want 10", len(recs))
	}
	var callers []string
	for _, r := range sf.Requests() {
		callers = append(callers, r.Caller)
	}
	want := []string{"bearer client=client-a", "bearer client=client-b", "bearer client=client-a", "bearer client=client-b", "bearer client=client-a"}
	if !slices.Equal(callers, want) {
		t.Fatalf("callers = %v, want alternating clients %v", callers, want)
	}
	if n := sf.Stats().TokensIssued; n != 2 {
		t.Fatalf("%d tokens, want one per client", n)
	}

	// A wrong secret is reported with the client id, never the secret.
	auth.OAuth.Clients[1].ClientSecret = "wrong-secret-789"
	s = newSource(t, tenant(auth, "/odata/v2/PerPerson?$format=json", "d.results"), srv.Client(), clk, nil, "")
	_, err := collectErr(s)
	if err == nil || !strings.Contains(err.Error(), "oauth client client-b") || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("err = %v; want invalid_client naming client-b", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-789") {
		t.Fatalf("error leaks the secret: %v", err)
	}
}

func TestStaticAuthMethods(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 4, 10, clk)
	sf.AddBasicUser("sfapi@SFCPART000123", "p@ss word:1")
	sf.AddBearerToken("static-api-token-42")
	cases := []struct {
		name   string
		auth   config.Auth
		caller string
		fail   string
	}{
		{"basic", config.Auth{Basic: &config.Basic{Username: "sfapi@SFCPART000123", Password: "p@ss word:1"}}, "basic user=sfapi@SFCPART000123", ""},
		{"bearer_token", config.Auth{BearerToken: &config.BearerToken{Token: "static-api-token-42"}}, "bearer", ""},
		{"basic, wrong password", config.Auth{Basic: &config.Basic{Username: "sfapi@SFCPART000123", Password: "not-the-password"}}, "", "HTTP 401"},
		{"bearer_token, unknown", config.Auth{BearerToken: &config.BearerToken{Token: "stolen-token-77"}}, "", "HTTP 401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(sf.Requests())
			c.auth.BaseURLs = []string{srv.URL}
			s := newSource(t, tenant(c.auth, "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, nil, "")
			recs, err := collectErr(s)
			if c.fail != "" {
				if err == nil || !strings.Contains(err.Error(), c.fail) || !strings.Contains(err.Error(), "check the tenant's auth settings") {
					t.Fatalf("err = %v; want %s", err, c.fail)
				}
				for _, secret := range []string{"not-the-password", "stolen-token-77"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error leaks a secret: %v", err)
					}
				}
				return
			}
			if err != nil || len(recs) != 4 {
				t.Fatalf("recs=%d err=%v", len(recs), err)
			}
			if got := sf.Requests()[before].Caller; got != c.caller {
				t.Fatalf("caller %q, want %q", got, c.caller)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 3, 10, clk)
	sf.AllowAnonymous()
	sf.RequireHeader("APIKey", "header-key-9000")
	auth := config.Auth{BaseURLs: []string{srv.URL}, Header: map[string]string{"APIKey": "header-key-9000"}}
	s := newSource(t, tenant(auth, "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, nil, "")
	if recs := collect(t, s); len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	// Headers go along with another method too.
	sf.AddBasicUser("u", "pw-123456")
	auth.Basic = &config.Basic{Username: "u", Password: "pw-123456"}
	s = newSource(t, tenant(auth, "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, nil, "")
	collect(t, s)
	if got := sf.Requests()[len(sf.Requests())-1].Caller; got != "basic user=u" {
		t.Fatalf("caller %q", got)
	}
	// Without the header the API refuses.
	auth.Header = nil
	s = newSource(t, tenant(auth, "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, nil, "")
	if _, err := collectErr(s); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("err = %v; want 401", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeKeyPair(t, dir, "sf-key.pem", "")
	writeKeyPair(t, dir, "other-key.pem", "other-cert.pem")
	cases := []struct {
		name string
		tc   config.Tenant
		want string
	}{
		{"no base url", tenant(config.Auth{}, "/x", ""), "hr.mycompany.auth.base_urls"},
		{"bad base url", tenant(config.Auth{BaseURLs: []string{"ftp://host"}}, "/x", ""), "hr.mycompany.auth.base_urls[0]"},
		{"credentials in base url", tenant(config.Auth{BaseURLs: []string{"https://u:secretpw@host"}}, "/x", ""), "credentials in the URL"},
		{"no query", tenant(config.Auth{BaseURLs: []string{"https://h"}}, "", ""), "collect_query_string"},
		{"bad result path", tenant(config.Auth{BaseURLs: []string{"https://h"}}, "/x", "d..results"), "collect_query_result_path"},
		{"missing key file", tenant(func() config.Auth {
			a := samlAuthConfig("https://h/oauth/token", "")
			a.BaseURLs = []string{"https://h"}
			a.OAuthSAMLAssertion.KeyFile = "absent.pem"
			return a
		}(), "/x", ""), "hr.mycompany.auth.oauth_saml_assertion.key_file"},
		{"cert of another key", tenant(func() config.Auth {
			a := samlAuthConfig("https://h/oauth/token", "other-cert.pem")
			a.BaseURLs = []string{"https://h"}
			return a
		}(), "/x", ""), "does not belong to key_file"},
		{"bad identifier format", tenant(func() config.Auth {
			a := samlAuthConfig("https://h/oauth/token", "")
			a.BaseURLs = []string{"https://h"}
			a.OAuthSAMLAssertion.UserIdentifierFormat = "upn"
			return a
		}(), "/x", ""), "user_identifier_format"},
		{"oauth without secret", tenant(config.Auth{BaseURLs: []string{"https://h"}, OAuth: &config.OAuth{Clients: []config.OAuthClient{{ClientID: "a"}}}}, "/x", ""), "oauth.clients[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New("mycompany", c.tc, Options{CertsDir: dir})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}
