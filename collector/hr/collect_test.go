package hr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
)

func basicAuth(srv *httptest.Server, sf *successfactors.Server) config.Auth {
	sf.AddBasicUser("api", "api-password-1")
	return config.Auth{BaseURLs: []string{srv.URL}, Basic: &config.Basic{Username: "api", Password: "api-password-1"}}
}

func TestPagingModes(t *testing.T) {
	cases := []struct {
		name, query, path string
		pages             int
	}{
		{"odata v2 d.__next", "/odata/v2/PerPerson?$format=json&$expand=employmentNav", "d.results", 4},
		{"odata v4 @odata.nextLink", "/odata/v4/PerPerson?$expand=employmentNav", "value", 4},
		{"root array, no paging", "/api/people", "", 1},
		{"odata v2 $top/$skip within pages", "/odata/v2/PerPerson?$skip=2&$top=7", "d.results", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: fixedNow}
			sf, srv := imitation(t, 11, 3, clk)
			tc := tenant(basicAuth(srv, sf), c.query, c.path)
			if c.path == "" {
				tc.Mapper = config.Mapper{User: []config.Mapping{{Source: "id", MapTo: "userName"}}}
			}
			s := newSource(t, tc, srv.Client(), clk, nil, "")
			recs := collect(t, s)
			want := sf.Company.IDs()
			if strings.Contains(c.query, "$skip=2&$top=7") {
				want = want[2:9]
			}
			if !slices.Equal(ids(recs), want) {
				t.Fatalf("ids = %v, want %v", ids(recs), want)
			}
			if n := len(sf.Requests()); n != c.pages {
				t.Fatalf("%d requests, want %d pages", n, c.pages)
			}
		})
	}
}

// A mover made in the HR system shows in the next collection.
func TestCompanyChangesAreCollected(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 5, 100, clk)
	s := newSource(t, tenant(basicAuth(srv, sf), docsQuery, "d.results"), srv.Client(), clk, nil, "")
	title := func(recs []collector.Record, id string) (string, any) {
		for _, r := range recs {
			if r.ID == id {
				emp := r.Data["employmentNav"].(map[string]any)["results"].([]any)[0].(map[string]any)
				job := emp["jobInfoNav"].(map[string]any)["results"].([]any)[0].(map[string]any)
				return job["jobTitle"].(string), emp["endDate"]
			}
		}
		t.Fatalf("no record %s", id)
		return "", nil
	}
	collect(t, s)
	if err := sf.Company.SetTitle("1003", "Head of Engineering"); err != nil {
		t.Fatal(err)
	}
	if err := sf.Company.SetEndDate("1003", fixedNow.AddDate(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	got, end := title(collect(t, s), "1003")
	if got != "Head of Engineering" {
		t.Fatalf("title %q after SetTitle", got)
	}
	if want := fmt.Sprintf("/Date(%d)/", time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC).UnixMilli()); end != want {
		t.Fatalf("endDate %v, want %s", end, want)
	}
	sf.Company.Remove("1002")
	if recs := collect(t, s); len(recs) != 4 {
		t.Fatalf("%d records after a removal, want 4", len(recs))
	}
}

// closedURL is a base URL nobody listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

func TestFailover(t *testing.T) {
	clk := &clock{t: fixedNow}
	company := successfactors.NewSampleCompany(9, clk.Now)
	a, b := successfactors.New(company), successfactors.New(company)
	a.SetPageSize(3)
	b.SetPageSize(3)
	srvA, srvB := a.Start(), b.Start()
	defer srvA.Close()
	defer srvB.Close()
	for _, sf := range []*successfactors.Server{a, b} {
		sf.AddClient("c1", "client-secret-1")
	}
	// Both test servers share one CA-less TLS config per server; a client trusting both:
	client := srvA.Client()
	client.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(srvB.Certificate())

	t.Run("first base URL unreachable", func(t *testing.T) {
		log := &logBuffer{}
		auth := config.Auth{BaseURLs: []string{closedURL(t), srvA.URL},
			OAuth: &config.OAuth{Clients: []config.OAuthClient{{ClientID: "c1", ClientSecret: "client-secret-1"}}}}
		s := newSource(t, tenant(auth, "/odata/v2/PerPerson", "d.results"), client, clk, log, "")
		if recs := collect(t, s); len(recs) != 9 {
			t.Fatalf("%d records", len(recs))
		}
		if !strings.Contains(log.String(), "failed over to another base URL") {
			t.Fatalf("no failover line in the log:\n%s", log)
		}
		// Failover is sticky: the next collection starts at the base URL that worked.
		before := len(a.Requests())
		collect(t, s)
		if len(a.Requests())-before != 3 {
			t.Fatalf("second collection: %d requests to the working base URL, want 3", len(a.Requests())-before)
		}
	})

	t.Run("base URL fails in the middle of paging", func(t *testing.T) {
		auth := config.Auth{BaseURLs: []string{srvA.URL, srvB.URL},
			OAuth: &config.OAuth{Clients: []config.OAuthClient{{ClientID: "c1", ClientSecret: "client-secret-1"}}}}
		s := newSource(t, tenant(auth, "/odata/v2/PerPerson", "d.results"), client, clk, nil, "")
		beforeB := len(b.Requests())
		var got []string
		_, err := s.Collect(context.Background(), nil, func(r collector.Record) error {
			if len(got) == 0 {
				a.Fail(100, http.StatusInternalServerError, 0) // A breaks after serving page 1
			}
			got = append(got, r.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, company.IDs()) {
			t.Fatalf("ids %v, want %v", got, company.IDs())
		}
		var skips []string
		for _, r := range b.Requests()[beforeB:] {
			if r.Status == http.StatusOK { // the first try carries A's token, which B refuses: a new token follows
				skips = append(skips, r.URL)
			}
		}
		if len(skips) != 2 || !strings.Contains(skips[0], "%24skiptoken=3") {
			t.Fatalf("B served %v; want pages 2 and 3 (the next link moved to B)", skips)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 4, 2, clk)
	log := &logBuffer{}
	s := newSource(t, tenant(basicAuth(srv, sf), "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, log, "")
	sf.Fail(1, http.StatusTooManyRequests, time.Second)
	sf.Fail(1, http.StatusServiceUnavailable, time.Second)
	start := time.Now()
	if recs := collect(t, s); len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("collection took %s; two Retry-After: 1 must make it wait at least 2s", el)
	}
	if n := strings.Count(log.String(), "wait=1s"); n != 2 {
		t.Fatalf("%d retry lines waiting 1s, want 2:\n%s", n, log)
	}

	// Failures without Retry-After back off and finally give up with the last status.
	s.attempts = 3
	sf.Fail(10, http.StatusServiceUnavailable, 0)
	_, err := collectErr(s)
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("err = %v; want giving up after 3 attempts with HTTP 503", err)
	}
	if !IsStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("IsStatus(err, 503) = false for %v", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 2, 10, clk)
	sf.SetLatency(1500 * time.Millisecond)
	tc := tenant(basicAuth(srv, sf), "/odata/v2/PerPerson", "d.results")
	tc.General.RequestTimeout = 1
	s := newSource(t, tc, srv.Client(), clk, nil, "")
	s.attempts = 1
	_, err := collectErr(s)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "general.request_timeout 1s") {
		t.Fatalf("err = %v; want context deadline exceeded naming request_timeout", err)
	}
}

// A cancelled collection stops at once, also while waiting for a Retry-After.
func TestCancelWhileWaiting(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 2, 10, clk)
	sf.Fail(1, http.StatusTooManyRequests, 60*time.Second)
	s := newSource(t, tenant(basicAuth(srv, sf), "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, nil, "")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Collect(ctx, nil, func(collector.Record) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s; want the context's error promptly", err, time.Since(start))
	}
}

func TestEmitErrorAborts(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 6, 2, clk)
	s := newSource(t, tenant(basicAuth(srv, sf), "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, nil, "")
	stop := errors.New("pipeline stopped")
	n := 0
	_, err := s.Collect(context.Background(), nil, func(collector.Record) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(sf.Requests()) != 2 {
		t.Fatalf("err = %v after %d requests; want emit's error and no further pages", err, len(sf.Requests()))
	}
}

// fixed serves canned bodies by path, for payloads the imitation never produces.
func fixed(t *testing.T, bodies map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, strings.ReplaceAll(b, "BASE", "http://"+r.Host))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBadPayloads(t *testing.T) {
	srv := fixed(t, map[string]string{
		"/html":      `<html>login</html>`,
		"/v4":        `{"value":[{"id":"1"}]}`,
		"/object":    `{"d":{"results":[]}}`,
		"/notobj":    `{"d":{"results":[{"id":"1"},"oops"]}}`,
		"/dnotobj":   `{"d":[1,2]}`,
		"/badnext":   `{"d":{"results":[],"__next":42}}`,
		"/loop":      `{"d":{"results":[{"id":"1"}],"__next":"BASE/loop?api_key=k-secret-1"}}`,
		"/notarray":  `{"d":{"results":{"id":"1"}}}`,
		"/emptynext": `{"d":{"results":[{"personIdExternal":"1"}],"__next":""}}`,
		"/foreign":   `{"d":{"results":[{"id":"1"}],"__next":"https://evil.example/odata/v2/PerPerson?$skiptoken=1"}}`,
	})
	cases := []struct {
		path, resultPath string
		want             []string
	}{
		{"/html", "d.results", []string{"not JSON", "$format=json"}},
		{"/v4", "d.results", []string{`collect_query_result_path "d.results"`, `"d" is missing`, "keys: value"}},
		{"/object", "", []string{"root array is expected", "keys: d", "d.results"}},
		{"/notobj", "d.results", []string{`element [1] is a string`}},
		{"/dnotobj", "d.results", []string{`"d" is an array, not an object with "results"`}},
		{"/badnext", "d.results", []string{"paging link d.__next is a number"}},
		{"/loop", "d.results", []string{"same next link twice"}},
		{"/notarray", "d.results", []string{"an object, not an array of users"}},
		{"/foreign", "d.results", []string{"points to https://evil.example", "credentials are not sent there"}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			s := newSource(t, tenant(config.Auth{BaseURLs: []string{srv.URL}}, c.path+"?api_key=k-secret-1&$format=json", c.resultPath), srv.Client(), &clock{t: fixedNow}, nil, "")
			_, err := collectErr(s)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append(c.want, `hr tenant "mycompany"`, srv.URL+c.path, "api_key=****") {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "k-secret-1") {
				t.Errorf("error leaks the query's secret:\n%s", msg)
			}
		})
	}
	// An empty __next is the last page.
	s := newSource(t, tenant(config.Auth{BaseURLs: []string{srv.URL}}, "/emptynext", "d.results"), srv.Client(), &clock{t: fixedNow}, nil, "")
	if recs := collect(t, s); len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
}

func TestProgressLog(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 12, 2, clk)
	log := &logBuffer{}
	s := newSource(t, tenant(basicAuth(srv, sf), "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, log, "")
	s.now = func() time.Time { clk.Add(2 * time.Second); return clk.Now() } // every page "takes" 2 s
	collect(t, s)
	lines := strings.Count(log.String(), "hr collection in progress")
	if lines < 1 || lines > 3 { // 6 pages of ~2 s, a line at most every 5 s
		t.Fatalf("%d progress lines, want 1-3:\n%s", lines, log)
	}
	if !strings.Contains(log.String(), "users=") || !strings.Contains(log.String(), "tenant=mycompany") {
		t.Fatalf("progress line lacks counts or tenant:\n%s", log)
	}
}

// Secrets never reach logs or errors, whatever goes wrong.
func TestSecretsNeverLeak(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 4, 2, clk)
	dir := t.TempDir()
	kp := writeKeyPair(t, dir, "sf-key.pem", "sf-cert.pem")
	sf.AddSAMLClient(successfactors.SAMLClient{ClientID: "saml-client", CompanyID: "C1", Cert: kp.Cert})
	sf.AddClient("cc-client", "cc-secret-value")
	sf.AddBasicUser("basic-user", "basic-password-value")
	sf.AddBearerToken("bearer-token-value")
	samlAuth := samlAuthConfig(srv.URL+"/oauth/token", "sf-cert.pem")
	samlAuth.OAuthSAMLAssertion.ClientID, samlAuth.OAuthSAMLAssertion.CompanyID = "saml-client", "C1"
	auths := []config.Auth{
		samlAuth,
		{OAuth: &config.OAuth{Clients: []config.OAuthClient{{ClientID: "cc-client", ClientSecret: "cc-secret-value"}}}},
		{Basic: &config.Basic{Username: "basic-user", Password: "basic-password-value"}},
		{BearerToken: &config.BearerToken{Token: "bearer-token-value"}},
		{Header: map[string]string{"X-Api-Key": "header-secret-value"}},
		{OAuth: &config.OAuth{Clients: []config.OAuthClient{{ClientID: "cc-client", ClientSecret: "cc-wrong-secret"}}}},
		{Basic: &config.Basic{Username: "basic-user", Password: "basic-wrong-password"}},
	}
	log := &logBuffer{}
	var errs, issued []string
	for _, a := range auths {
		a.BaseURLs = []string{srv.URL}
		s := newSource(t, tenant(a, "/odata/v2/PerPerson?$format=json", "d.results"), srv.Client(), clk, log, dir)
		s.attempts = 2
		sf.Fail(1, http.StatusServiceUnavailable, 0) // a retry logs the request
		if _, err := collectErr(s); err != nil {
			errs = append(errs, err.Error())
		}
		issued = append(issued, sf.IssuedTokens()...)
		sf.ExpireTokens() // forces a 401 and a new token on the next source using the same client
	}
	if len(errs) < 3 { // wrong secret, wrong password, header-only is refused (no anonymous access)
		t.Fatalf("expected the failing cases to fail: %v", errs)
	}
	secrets := []string{"cc-secret-value", "basic-password-value", "bearer-token-value", "header-secret-value",
		"cc-wrong-secret", "basic-wrong-password", string(kp.KeyPEM[40:80])}
	if len(issued) < 2 {
		t.Fatalf("only %d access tokens were issued; the oauth cases did not run", len(issued))
	}
	secrets = append(secrets, issued...)
	all := log.String() + strings.Join(errs, "\n")
	for _, sec := range secrets {
		if strings.Contains(all, sec) {
			t.Fatalf("secret %q appears in logs or errors:\n%s", sec, all)
		}
	}
	if !strings.Contains(log.String(), "access token obtained") {
		t.Fatalf("debug log lacks token lines, so the check above checked little:\n%s", log)
	}
}
