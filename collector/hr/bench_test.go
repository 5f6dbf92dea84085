package hr

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
)

// BenchmarkCollect measures records/s collected from the imitation (10,000 people, the documentation's
// $expand, pages of 1,000) against a baseline in the same run: a plain loop of http GET + json decode of the
// same pages, following d.__next. The ratio is the source's rate over the baseline's.
func BenchmarkCollect(b *testing.B) {
	const people = 10000
	clk := &clock{t: fixedNow}
	sf := successfactors.New(successfactors.NewSampleCompany(people, clk.Now))
	sf.AddBasicUser("api", "api-password-1")
	srv := httptest.NewServer(sf)
	defer srv.Close()
	query := strings.Replace(docsQuery, "customPageSize=100", "customPageSize=1000", 1)
	auth := config.Auth{BaseURLs: []string{srv.URL}, Basic: &config.Basic{Username: "api", Password: "api-password-1"}}
	s, err := New("bench", tenant(auth, query, "d.results"), Options{HTTPClient: srv.Client(), Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	client := srv.Client()
	baseline := func() int {
		n := 0
		for next := srv.URL + escapeRequestURI(query); next != ""; {
			req, _ := http.NewRequest(http.MethodGet, next, nil)
			req.SetBasicAuth("api", "api-password-1")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("baseline: %d %v", resp.StatusCode, err)
			}
			var doc any
			if err := json.Unmarshal(body, &doc); err != nil {
				b.Fatal(err)
			}
			d := doc.(map[string]any)["d"].(map[string]any)
			n += len(d["results"].([]any))
			next, _ = d["__next"].(string)
		}
		return n
	}
	source := func() int {
		n := 0
		if _, err := s.Collect(context.Background(), nil, func(collector.Record) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		return n
	}
	if baseline() != people || source() != people { // also warms the imitation's page cache
		b.Fatal("wrong record count")
	}
	var tBase, tSrc time.Duration
	b.ResetTimer()
	timed := func(f func() int) time.Duration { t0 := time.Now(); f(); return time.Since(t0) }
	for i := 0; i < b.N; i++ {
		// Alternate the order so neither side pays the other's garbage collection more often.
		if i%2 == 0 {
			tBase += timed(baseline)
			tSrc += timed(source)
		} else {
			tSrc += timed(source)
			tBase += timed(baseline)
		}
	}
	rs, rb := float64(people*b.N)/tSrc.Seconds(), float64(people*b.N)/tBase.Seconds()
	b.ReportMetric(rs, "records/s")
	b.ReportMetric(rb, "baseline-records/s")
	b.ReportMetric(rs/rb, "ratio")
}
