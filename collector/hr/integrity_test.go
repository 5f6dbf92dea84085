package hr

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
)

// The imitation's faults that lose people are reported as an incomplete collection with the numbers; the query
// asks for the count where the dialect has one.
func TestIncompleteReadsAreReported(t *testing.T) {
	cases := []struct {
		name      string
		query     string
		path      string
		faults    successfactors.Faults
		read      int
		announced int
	}{
		{"v2 paging cut after 2 pages", "/odata/v2/PerPerson", "d.results", successfactors.Faults{CutAfterPages: 2}, 20, 50},
		{"v2 count disagrees", "/odata/v2/PerPerson", "d.results", successfactors.Faults{CountDelta: 7}, 50, 57},
		{"v2 single record", "/odata/v2/PerPerson", "d.results", successfactors.Faults{SingleRecord: true}, 1, 50},
		{"v4 paging cut after 1 page", "/odata/v4/PerPerson", "value", successfactors.Faults{CutAfterPages: 1}, 10, 50},
		{"docs query ($count=true on v2)", docsQuery, "d.results", successfactors.Faults{CutAfterPages: 1}, 10, 50},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: fixedNow}
			sf, srv := imitation(t, 50, 10, clk)
			sf.AllowAnonymous()
			q := c.query
			if q == docsQuery {
				q = strings.Replace(q, "customPageSize=100", "customPageSize=10", 1)
			}
			s := newSource(t, tenant(basicAuth(srv, sf), q, c.path), srv.Client(), clk, nil, "")
			sf.SetFaults(c.faults)
			recs, err := collectErr(s)
			var ie *collector.IncompleteError
			if !errors.As(err, &ie) {
				t.Fatalf("want an IncompleteError, got %v", err)
			}
			if ie.Read != c.read || ie.Announced != c.announced || len(recs) != c.read {
				t.Fatalf("want %d read of %d announced, got %d of %d (%d records): %v", c.read, c.announced, ie.Read, ie.Announced, len(recs), err)
			}
			// Repaired, the same source reads everyone and is complete.
			sf.SetFaults(successfactors.Faults{})
			if recs := collect(t, s); len(recs) != 50 {
				t.Fatalf("repaired: %d records", len(recs))
			}
			if c.query == "/odata/v2/PerPerson" {
				if u := sf.Requests()[0].URL; !strings.Contains(u, "$inlinecount=allpages") {
					t.Errorf("the v2 query does not ask for the count: %s", u)
				}
			}
		})
	}
}

// Numeric ids are ids (formatted as digits); ids that are objects, null, booleans or missing skip the record with
// an error naming its place, and make the collection incomplete.
func TestRecordIDTypes(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 6, 100, clk)
	sf.AllowAnonymous()
	log := &logBuffer{}
	s := newSource(t, tenant(basicAuth(srv, sf), "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, log, "")
	sf.SetFaults(successfactors.Faults{NumericIDs: true})
	recs := collect(t, s)
	if got := strings.Join(ids(recs), ","); got != "1001,1002,1003,1004,1005,1006" {
		t.Fatalf("numeric ids: %s", got)
	}
	if _, isNum := recs[2].Data["personIdExternal"].(float64); !isNum {
		t.Fatalf("the imitation did not serve a number: %T", recs[2].Data["personIdExternal"])
	}
	sf.SetFaults(successfactors.Faults{BadIDs: map[string]any{"1002": map[string]any{"x": 1}, "1003": nil, "1004": true, "1005": successfactors.Missing}})
	recs, err := collectErr(s)
	var ie *collector.IncompleteError
	if !errors.As(err, &ie) || len(recs) != 2 || !strings.Contains(ie.Reason, "4 records without a usable id") {
		t.Fatalf("want 2 records and an incomplete collection naming 4 bad ids, got %d: %v", len(recs), err)
	}
	for _, want := range []string{"id=\"an object\"", "id=null", "id=\"a boolean\"", "id=missing", "record=2 page=1 element=1"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, log.String())
		}
	}
}

// A page that fails after its retries, once earlier pages were read, makes the collection incomplete (what was read
// is published, nobody is a leaver); a first page that fails is an error.
func TestFailedPageIsIncomplete(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf := successfactors.New(successfactors.NewSampleCompany(30, clk.Now))
	sf.SetPageSize(10)
	sf.AllowAnonymous()
	var failFrom atomic.Int64 // skiptoken from which every request fails with 500
	failFrom.Store(1 << 30)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, err := strconv.Atoi(r.URL.Query().Get("$skiptoken")); err == nil && int64(tok) >= failFrom.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		sf.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s := newSource(t, tenant(config.Auth{BaseURLs: []string{srv.URL}}, "/odata/v2/PerPerson", "d.results"), srv.Client(), clk, nil, "")
	failFrom.Store(20)
	recs, err := collectErr(s)
	var ie *collector.IncompleteError
	if !errors.As(err, &ie) || ie.Read != 20 || ie.Announced != 30 || len(recs) != 20 || !strings.Contains(err.Error(), "page 3 failed") ||
		!strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("want an incomplete collection after 20 of 30 with the page's error, got %d records: %v", len(recs), err)
	}
	failFrom.Store(0) // the first page has no skiptoken: it still answers; make every page fail instead
	sf.Fail(100, http.StatusInternalServerError, 0)
	if _, err := collectErr(s); err == nil || errors.As(err, &ie) {
		t.Fatalf("a failing first page must be an error, not incomplete: %v", err)
	}
}
