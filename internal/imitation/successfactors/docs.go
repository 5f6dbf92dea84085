package successfactors

import (
	"net/http/httptest"
	"testing"

	"github.com/scim-stream/scim-stream/config"
)

// DocsTenant serves company over HTTPS with a basic-auth API user until t ends, and returns the server and the
// documentation's SuccessFactors tenant "mycompany" (the file at configPath, testdata/config/hr-successfactors.yaml)
// pointed at it: what end-to-end tests collect from.
func DocsTenant(t testing.TB, company *Company, configPath string) (*httptest.Server, *config.Tenant) {
	t.Helper()
	s := New(company)
	s.AddBasicUser("api", "api-password")
	srv := s.Start()
	t.Cleanup(srv.Close)
	c, err := config.Check(configPath)
	if err != nil {
		t.Fatal(err)
	}
	tc := c.HR["mycompany"]
	tc.Auth = config.Auth{BaseURLs: []string{srv.URL}, Basic: &config.Basic{Username: "api", Password: "api-password"}}
	return srv, tc
}
