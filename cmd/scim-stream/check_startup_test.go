package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/demo"
)

// TestCheckCatchesWhatRunRefuses: an empty file, a freshly bootstrapped file with its placeholders (secrets
// included, which bootstrap writes encrypted) and a catastrophic regex fail `check` with file:line; a file check
// accepts starts every tenant in `run`.
func TestCheckCatchesWhatRunRefuses(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := dispatch([]string{"check", "-config", empty}, &out, &out); code != 1 || !strings.Contains(out.String(), "scim-stream bootstrap") {
		t.Fatalf("check of an empty file = %d:\n%s", code, out.String())
	}

	fresh := filepath.Join(dir, "config", "config.yaml")
	out.Reset()
	if code := dispatch([]string{"bootstrap", "-config", fresh, "-entra", "acme", "-hr", "acme"}, &out, &out); code != 0 {
		t.Fatalf("bootstrap: %s", out.String())
	}
	out.Reset()
	if code := dispatch([]string{"check", "-config", fresh}, &out, &out); code != 1 {
		t.Fatalf("check of a bootstrapped skeleton = %d:\n%s", code, out.String())
	}
	for _, want := range []string{
		"entra.acme.general.entra.tenant_id: placeholder <tenant-id> was never replaced",
		"entra.acme.auth.oauth.clients[0].client_id: placeholder <client-id>",
		"entra.acme.auth.oauth.clients[0].client_secret: this secret still holds the placeholder",
		"entra.acme.streams[0].rules[0].filter: placeholder <App1-EnterpriseAppObjectID>",
		"hr.acme.auth.basic.password: this secret still holds the placeholder",
		"hr.acme.general.hr.collect_query_string: placeholder <collect-query-string>",
		"hr.acme.auth.base_urls[0]: placeholder hr-api.example.com",
		"(scim-stream run would not start this tenant)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check does not report %q:\n%s", want, out.String())
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, fresh+":") || strings.HasPrefix(l, fresh+": ") {
			t.Errorf("a line without file:line: %s", l)
		}
	}

	// A configuration check accepts, with a catastrophic rule added: refused with its line; without: run starts
	// every tenant.
	f := newHRFixture(t, 3, "")
	out.Reset()
	if code := dispatch([]string{"check", "-config", f.cfgPath}, &out, &out); code != 0 {
		t.Fatalf("check of the run fixture = %d:\n%s", code, out.String())
	}
	b, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bomb := strings.Replace(string(b), "          - filter: (.*)\n", "          - filter: (.*)\n          - filter: (user.title -match \"(\\w*\\w*\\s*)*Q|.*Manager.*\")\n", 1)
	bad := filepath.Join(filepath.Dir(f.cfgPath), "bomb.yaml")
	if err := os.WriteFile(bad, []byte(bomb), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := dispatch([]string{"check", "-config", bad}, &out, &out); code != 1 || !strings.Contains(out.String(), "catastrophic backtracking") ||
		!strings.Contains(out.String(), bad+":") {
		t.Fatalf("check of a catastrophic rule = %d:\n%s", code, out.String())
	}
	// The tenant's HR account removed from the NATS section: run could not start its collector.
	noAccount := filepath.Join(filepath.Dir(f.cfgPath), "noaccount.yaml")
	if err := os.WriteFile(noAccount, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := config.Update(noAccount, config.Change{Path: []string{"nats", "server", "auth", "account", demo.Tenant, "hr"}, Value: config.Null}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := dispatch([]string{"check", "-config", noAccount}, &out, &out); code != 1 || !strings.Contains(out.String(), `tenant "mycompany" has no HR account`) {
		t.Fatalf("check without the tenant's account = %d:\n%s", code, out.String())
	}
	r := f.run(t, "")
	c, err := config.Check(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every tenant started", 10*time.Second, func() bool {
		return strings.Count(r.out.String(), "tenant started") == len(c.HR)+len(c.Entra)
	})
}
