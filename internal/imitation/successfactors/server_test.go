package successfactors

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func get(t *testing.T, s *Server, path string, q url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	srv := s.Start()
	defer srv.Close()
	u := srv.URL + path
	if q != nil {
		u += "?" + q.Encode()
	}
	resp, err := srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: not JSON: %s", u, b)
	}
	m, _ := doc.(map[string]any)
	if m == nil {
		m = map[string]any{"root": doc}
	}
	return resp.StatusCode, m, resp.Header
}

func results(t *testing.T, doc map[string]any) []any {
	t.Helper()
	d, ok := doc["d"].(map[string]any)
	if !ok {
		t.Fatalf("no d: %v", doc)
	}
	return d["results"].([]any)
}

func open(n int) *Server {
	s := New(NewSampleCompany(n, func() time.Time { return testNow }))
	s.AllowAnonymous()
	return s
}

func TestFilterSelectTopSkip(t *testing.T) {
	s := open(10)
	// The last sample person is a future hire (starts in 14 days).
	future := "datetime'" + testNow.AddDate(0, 0, 1).Format("2006-01-02T15:04:05") + "'"
	cases := []struct {
		filter string
		want   []string
	}{
		{"employmentNav/startDate ne null", []string{"1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008", "1009", "1010"}},
		{"employmentNav/startDate gt " + future, []string{"1010"}},
		{"personIdExternal eq '1003' or personIdExternal eq '1007'", []string{"1003", "1007"}},
		{"personIdExternal ge '1008' and personIdExternal ne '1009'", []string{"1008", "1010"}},
		{"employmentNav/jobInfoNav/jobTitle eq 'Trainee'", []string{"1005", "1010"}}, // ended earlier employments
	}
	for _, c := range cases {
		code, doc, _ := get(t, s, "/odata/v2/PerPerson", url.Values{"$filter": {c.filter}})
		if code != 200 {
			t.Fatalf("%s: %d %v", c.filter, code, doc)
		}
		var got []string
		for _, r := range results(t, doc) {
			got = append(got, r.(map[string]any)["personIdExternal"].(string))
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v, want %v", c.filter, got, c.want)
		}
	}

	_, doc, _ := get(t, s, "/odata/v2/PerPerson", url.Values{"$select": {"personIdExternal,employmentNav/startDate"},
		"$expand": {"employmentNav"}, "$top": {"2"}, "$skip": {"3"}, "$inlinecount": {"allpages"}})
	rs := results(t, doc)
	if len(rs) != 2 || doc["d"].(map[string]any)["__count"] != "10" {
		t.Fatalf("$top/$skip/$inlinecount: %v", doc)
	}
	p := rs[0].(map[string]any)
	if p["personIdExternal"] != "1004" || p["dateOfBirth"] != nil || p["personalInfoNav"] != nil {
		t.Fatalf("$select kept too much or skipped wrong: %v", p)
	}
	emp := p["employmentNav"].(map[string]any)["results"].([]any)[0].(map[string]any)
	if len(emp) != 2 || !strings.HasPrefix(emp["startDate"].(string), "/Date(") { // startDate and __metadata
		t.Fatalf("nested $select: %v", emp)
	}

	// Unexpanded navigation is deferred.
	_, doc, _ = get(t, s, "/odata/v2/PerPerson", url.Values{"$top": {"1"}})
	nav := results(t, doc)[0].(map[string]any)["employmentNav"].(map[string]any)
	if _, ok := nav["__deferred"]; !ok {
		t.Fatalf("employmentNav not deferred: %v", nav)
	}
}

func TestBadRequests(t *testing.T) {
	s := open(2)
	for _, q := range []url.Values{
		{"$expand": {"employmentNav/nosuchNav"}},
		{"$filter": {"substringof('a', lastName)"}},
		{"$filter": {"personIdExternal xx '1'"}},
		{"customPageSize": {"5000"}},
		{"$format": {"atom"}},
	} {
		code, doc, _ := get(t, s, "/odata/v2/PerPerson", q)
		e, _ := doc["error"].(map[string]any)
		if code != 400 || e == nil || e["message"].(map[string]any)["value"] == "" {
			t.Errorf("%v: %d %v; want an OData 400 error", q, code, doc)
		}
	}
}

func TestPagingAndDialects(t *testing.T) {
	s := open(5)
	s.SetPageSize(2)
	srv := s.Start()
	defer srv.Close()
	next, n := srv.URL+"/odata/v2/PerPerson", 0
	for pages := 0; next != ""; pages++ {
		resp, err := srv.Client().Get(next)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			D struct {
				Results []any  `json:"results"`
				Next    string `json:"__next"`
			} `json:"d"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		n += len(doc.D.Results)
		next = doc.D.Next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if n != 5 {
		t.Fatalf("%d people over the pages, want 5", n)
	}
	_, doc, _ := get(t, s, "/odata/v4/PerPerson", url.Values{"$expand": {"employmentNav"}})
	if len(doc["value"].([]any)) != 2 || !strings.Contains(doc["@odata.nextLink"].(string), "skiptoken=2") {
		t.Fatalf("v4 page: %v", doc)
	}
	emp := doc["value"].([]any)[0].(map[string]any)["employmentNav"].([]any)[0].(map[string]any)
	if sd := emp["startDate"].(string); len(sd) != 10 {
		t.Fatalf("v4 startDate %q, want yyyy-MM-dd", sd)
	}
	_, doc, _ = get(t, s, "/api/people", nil)
	if len(doc["root"].([]any)) != 5 {
		t.Fatalf("plain: %v", doc)
	}
}

func TestFailuresAndAuth(t *testing.T) {
	s := New(NewSampleCompany(2, func() time.Time { return testNow }))
	s.Fail(1, http.StatusTooManyRequests, 1500*time.Millisecond)
	code, _, h := get(t, s, "/odata/v2/PerPerson", nil)
	if code != 429 || h.Get("Retry-After") != "2" {
		t.Fatalf("%d Retry-After=%q; want 429 with Retry-After 2", code, h.Get("Retry-After"))
	}
	if code, _, _ := get(t, s, "/odata/v2/PerPerson", nil); code != 401 {
		t.Fatalf("anonymous: %d, want 401", code)
	}
	s.AddClient("c", "s")
	srv := s.Start()
	defer srv.Close()
	resp, err := srv.Client().PostForm(srv.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"c"}, "client_secret": {"s"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" || tok.ExpiresIn != 86400 {
		t.Fatalf("token response %+v", tok)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/odata/v2/PerPerson", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = srv.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with token: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	resp, _ = srv.Client().PostForm(srv.URL+"/oauth/token", url.Values{"grant_type": {GrantSAML2Bearer}, "client_id": {"c"}, "assertion": {"PHg+"}})
	if resp.StatusCode != 401 {
		t.Fatalf("SAML grant for a non-SAML client: %d, want 401", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestCompanyChanges(t *testing.T) {
	c := NewSampleCompany(20, func() time.Time { return testNow })
	if c.Len() != 20 {
		t.Fatalf("%d people", c.Len())
	}
	if err := c.SetManager("1007", "1002"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTitle("1005", "Architect"); err != nil {
		t.Fatal(err)
	}
	p, _ := c.Person("1005")
	if p.Employments[0].JobTitle != "Trainee" || p.Employments[1].JobTitle != "Architect" {
		t.Fatalf("SetTitle must change the current employment, not the ended one: %+v", p.Employments)
	}
	p, _ = c.Person("1007")
	if p.Employments[len(p.Employments)-1].ManagerID != "1002" {
		t.Fatalf("manager %+v", p.Employments)
	}
	if err := c.SetEndDate("1001", testNow.AddDate(0, 0, 30)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTitle("9999", "x"); err == nil {
		t.Fatal("no error for an unknown person")
	}
	if err := c.SetManager("1001", "9999"); err == nil {
		t.Fatal("no error for an unknown manager")
	}
}
