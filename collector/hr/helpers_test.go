package hr

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
)

// docsQuery is the SuccessFactors example's collect_query_string, raw spaces included, as operators copy it.
const docsQuery = "/odata/v2/PerPerson?$count=true&customPageSize=100&$format=json&$expand=employmentNav/userNav,employmentNav/jobInfoNav,personalInfoNav,personEmpTerminationInfoNav,phoneNav,emailNav,employmentNav/jobInfoNav/companyNav/countryOfRegistrationNav,employmentNav/jobInfoNav/divisionNav,employmentNav/jobInfoNav/departmentNav&$filter=employmentNav/startDate ne null"

// sfMapper maps userName from personIdExternal, as the documentation's example does.
var sfMapper = config.Mapper{User: []config.Mapping{
	{Source: "personIdExternal", MapTo: "userName"},
	{Source: "employmentNav.results.[0].startDate", MapTo: "startDate"},
	{Source: "employmentNav.results.[0].endDate", MapTo: "endDate"},
}}

// fixedNow is the tests' clock base; the imitation and the collector share it through clock.
var fixedNow = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// clock is a settable clock safe for the handler's goroutines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// imitation starts the SuccessFactors imitation with n sample people and a page size.
func imitation(t *testing.T, n, pageSize int, clk *clock) (*successfactors.Server, *httptest.Server) {
	t.Helper()
	sf := successfactors.New(successfactors.NewSampleCompany(n, clk.Now))
	sf.SetPageSize(pageSize)
	srv := sf.Start()
	t.Cleanup(srv.Close)
	return sf, srv
}

func tenant(auth config.Auth, query, path string) config.Tenant {
	return config.Tenant{
		Auth: auth,
		General: config.General{RequestTimeout: 5, HR: config.HRGeneral{
			CollectQueryString: query, CollectQueryResultPath: path}},
		Mapper: sfMapper,
	}
}

// logBuffer collects every log line at debug level.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newSource(t *testing.T, tc config.Tenant, client *http.Client, clk *clock, log *logBuffer, certsDir string) *Source {
	t.Helper()
	opts := Options{HTTPClient: client, Now: clk.Now, CertsDir: certsDir}
	if log != nil {
		opts.Log = log.logger()
	}
	s, err := New("mycompany", tc, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.backoff = 10 * time.Millisecond
	return s
}

func collect(t *testing.T, s *Source) []collector.Record {
	t.Helper()
	recs, err := collectErr(s)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return recs
}

func collectErr(s *Source) ([]collector.Record, error) {
	var recs []collector.Record
	full, err := s.Collect(context.Background(), nil, func(r collector.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err == nil && !full {
		return nil, errNotFull
	}
	return recs, err
}

type testErr string

func (e testErr) Error() string { return string(e) }

const errNotFull = testErr("Collect returned full=false; HR is a full source")

// writeKeyPair writes a fresh key pair into a certs directory and returns it.
func writeKeyPair(t *testing.T, dir, keyFile, certFile string) *successfactors.KeyPair {
	t.Helper()
	kp, err := successfactors.GenerateKeyPair("scim-stream test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), kp.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if certFile != "" {
		if err := os.WriteFile(filepath.Join(dir, certFile), kp.CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return kp
}

// ids lists the records' ids.
func ids(recs []collector.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}
