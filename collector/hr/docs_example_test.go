package hr

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/mapper"
	"github.com/scim-stream/scim-stream/wire"
)

// TestDocsExample runs the documentation's SuccessFactors configuration (testdata/config) unchanged but for the
// host: the key_file-only SAML assertion, the query string with raw spaces, and its mapper on what the source
// collects, including -most_current over several employments.
func TestDocsExample(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 20, 1000, clk)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	kp := writeKeyPair(t, filepath.Join(dir, "certs"), "sf-key.pem", "")
	sf.AddSAMLClient(successfactors.SAMLClient{ClientID: "ZTk2NjRkYzQ1YzU2ZTRmZjk5NWU4ZjA2ZmY4Mw", CompanyID: "SFCPART000123",
		Cert: kp.Cert, Users: []string{"scim-stream-api"}, Audience: "scim-stream"})
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "config", "hr-successfactors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "https://api2.successfactors.eu", srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.HR["mycompany"]
	s, err := New("mycompany", *tc, Options{HTTPClient: srv.Client(), Now: clk.Now, CertsDir: config.CertsDir(path)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapper.Compile(wire.HR, tc.Mapper)
	if err != nil {
		t.Fatal(err)
	}
	reg := mapper.NewMemory()
	mapAll := func() map[string]map[string]any {
		users := map[string]map[string]any{}
		for _, r := range collect(t, s) {
			u, err := m.Map(context.Background(), r.Data, mapper.Options{New: true, Owner: r.ID, Unique: reg, Now: clk.Now()})
			if err != nil {
				t.Fatalf("%s: %v", r.ID, err)
			}
			if u["userName"] != r.ID {
				t.Fatalf("record id %q but userName %v", r.ID, u["userName"])
			}
			users[r.ID] = u
		}
		return users
	}
	ent := func(u map[string]any) map[string]any {
		return u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
	}
	users := mapAll()
	if len(users) != 20 {
		t.Fatalf("%d users, want 20", len(users))
	}
	// 1005 has an ended Trainee employment listed first: -most_current picks the current one.
	if u := users["1005"]; u["title"] != "Sales Manager" || ent(u)["manager"].(map[string]any)["value"] != "1001" {
		t.Fatalf("1005: %v", u)
	}
	if oc := users["1002"]["onCreate"].(map[string]any); oc["userPrincipalName"] != "bjorn.kristiansen@mycompany.com" ||
		users["1002"]["name"].(map[string]any)["givenName"] != "Bjørn" {
		t.Fatalf("1002: %v", users["1002"])
	}
	if sd, ok := mapper.ParseDate(users["1020"]["startDate"]); !ok || !sd.Equal(fixedNow.Truncate(24*time.Hour).AddDate(0, 0, 14)) {
		t.Fatalf("future hire 1020 startDate %v", users["1020"]["startDate"])
	}

	// A mover and a leaver made in SuccessFactors reach the mapped users at the next collection.
	end := fixedNow.AddDate(0, 0, 10)
	if err := sf.Company.SetTitle("1003", "Head of Sales"); err != nil {
		t.Fatal(err)
	}
	if err := sf.Company.SetManager("1003", "1002"); err != nil {
		t.Fatal(err)
	}
	if err := sf.Company.SetEndDate("1004", end); err != nil {
		t.Fatal(err)
	}
	users = mapAll()
	if u := users["1003"]; u["title"] != "Head of Sales" || ent(u)["manager"].(map[string]any)["value"] != "1002" {
		t.Fatalf("mover 1003: %v", u)
	}
	if ed, ok := mapper.ParseDate(users["1004"]["endDate"]); !ok || !ed.Equal(end.Truncate(24*time.Hour)) {
		t.Fatalf("leaver 1004 endDate %v", users["1004"]["endDate"])
	}
}
