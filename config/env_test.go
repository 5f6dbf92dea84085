package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

const envBase = `entra:
  MyCompany:
    auth:
      oauth:
        clients:
          - client_id: first-client
            client_secret: file-secret
    general:
      entra:
        tenant_id: mycompany.onmicrosoft.com
    streams:
      - channel: APP1
        rules:
          - filter: (.*)
`

func TestEnvOverrides(t *testing.T) {
	path := writeConfig(t, envBase)
	userSeed := seed(t, nkeys.CreateUser)
	// The documentation's own spelling: SCIM-STREAM_ prefix, no AUTH level, tenant upper-cased.
	t.Setenv("SCIM-STREAM_ENTRA_MYCOMPANY_OAUTH_CLIENTS[0]_CLIENTSECRET", "env-secret-0")
	// The shell-friendly prefix, full path, a new list element.
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[1]_CLIENTID", "second-client")
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[1]_CLIENTSECRET", "env-secret-1")
	// Keys with underscores written without them, numbers and booleans typed by YAML rules.
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_GENERAL_COLLECTINTERVAL", "30")
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_GENERAL_ENTRA_INCLUDEGUESTUSERS", "true")
	t.Setenv("SCIM_STREAM_LOG_LEVEL", "debug")
	// A key that is not in the file at all, under a tenant that is only in entra: the tenant's spelling is kept.
	t.Setenv("SCIM-STREAM_NATS_PUBLISHER_MYCOMPANY_SECRET", userSeed)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Entra["MyCompany"].Auth.OAuth.Clients
	if len(cl) != 2 || cl[0].ClientID != "first-client" || cl[0].ClientSecret.Reveal() != "env-secret-0" ||
		cl[1].ClientID != "second-client" || cl[1].ClientSecret.Reveal() != "env-secret-1" {
		t.Errorf("clients %+v", cl)
	}
	g := c.Entra["MyCompany"].General
	if g.CollectInterval.Seconds != 30 || !g.Entra.IncludeGuestUsers {
		t.Errorf("general %+v", g)
	}
	if c.Log.Level != "debug" {
		t.Errorf("log.level %q", c.Log.Level)
	}
	p := c.Nats.Publisher["MyCompany"]
	if p == nil || p.Secret.Reveal() != userSeed || p.MaxAge != 14 {
		t.Errorf("publisher %+v (all: %v)", p, c.Nats.Publisher)
	}
	// Overrides are not written to the file (only the file's own clear secret got encrypted).
	data := readFile(t, path)
	if strings.Contains(data, "second-client") || strings.Contains(data, "env-secret") || strings.Contains(data, "file-secret") {
		t.Errorf("file after load:\n%s", data)
	}
}

func TestVaultFile(t *testing.T) {
	path := writeConfig(t, envBase)
	userSeed := seed(t, nkeys.CreateUser)
	vault := filepath.Join(t.TempDir(), ".vaultfile")
	body := "# vault\n" +
		"SCIM-STREAM_ENTRA_MYCOMPANY_OAUTH_CLIENTS[0]_CLIENTSECRET=my-client-secret\n" +
		"\n" +
		"export SCIM-STREAM_NATS_PUBLISHER_MYCOMPANY_SECRET=" + userSeed + "\n" +
		`SCIM_STREAM_LOG_LEVEL="error"` + "\n" +
		"SCIM_STREAM_EMAIL_SMTP_PROXYPASSWORD=from-vault\n"
	if err := os.WriteFile(vault, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"SCIM-STREAM_", "SCIM_STREAM_"} {
		t.Run(prefix, func(t *testing.T) {
			t.Setenv(prefix+"VAULTFILE", vault)
			// The environment wins over the vault file.
			t.Setenv("SCIM_STREAM_EMAIL_SMTP_PROXYPASSWORD", "from-env")
			c, err := Check(path)
			if err != nil {
				t.Fatal(err)
			}
			if s := c.Entra["MyCompany"].Auth.OAuth.Clients[0].ClientSecret; s.Reveal() != "my-client-secret" {
				t.Errorf("client_secret from vault = %q", s.Reveal())
			}
			if p := c.Nats.Publisher["MyCompany"]; p == nil || p.Secret.Reveal() != userSeed {
				t.Errorf("publisher %+v", p)
			}
			if c.Log.Level != "error" {
				t.Errorf("log.level %q", c.Log.Level)
			}
			if got := c.Email.SMTP.ProxyPassword.Reveal(); got != "from-env" {
				t.Errorf("proxy_password %q, want the environment's", got)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	path := writeConfig(t, envBase)
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_GENERAL_COLECTINTERVAL", "30")
	t.Setenv("SCIM_STREAM_LOG_LEVEL", "loud")
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[5]_CLIENTID", "gap")
	t.Setenv("SCIM_STREAM_NATS_SERVER_AUTH_OPERATOR_SECRET", "not-a-seed-but-secret")
	vault := filepath.Join(t.TempDir(), "vault")
	if err := os.WriteFile(vault, []byte("SCIM_STREAM_NATS_SERVER_PORT=many\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCIM_STREAM_VAULTFILE", vault)
	got := mustErrors(t, path).Error()
	for _, want := range []string{
		`environment SCIM_STREAM_ENTRA_MYCOMPANY_GENERAL_COLECTINTERVAL: SCIM_STREAM_ENTRA_MYCOMPANY_GENERAL_COLECTINTERVAL does not name a configuration key: no key "colectinterval" under "entra.MyCompany.general"`,
		`environment SCIM_STREAM_LOG_LEVEL: log.level: "loud" must be debug, info, warn, error or disabled`,
		`environment SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[5]_CLIENTID: SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[5]_CLIENTID: entra.MyCompany.auth.oauth.clients has 1 elements, index 5 would leave a gap`,
		`environment SCIM_STREAM_NATS_SERVER_AUTH_OPERATOR_SECRET: nats.server.auth.operator.secret: is not a valid NATS NKey seed`,
		vault + `:1: nats.server.port: "many" must be a whole number`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "not-a-seed-but-secret") {
		t.Errorf("an error shows the secret:\n%s", got)
	}
}

// TestEnvTenantNameSpellings: tenant names may hold '-' and '_' (they are stream names); a variable can spell them
// with or without those characters, in upper case.
func TestEnvTenantNameSpellings(t *testing.T) {
	body := `entra:
  My-Company:
    auth: {oauth: {clients: [{client_id: a, client_secret: file-secret}]}}
    general: {entra: {tenant_id: a.onmicrosoft.com}}
    streams: [{channel: A, rules: [{filter: (.*)}]}]
  HR_Co:
    auth: {oauth: {clients: [{client_id: b, client_secret: file-secret}]}}
    general: {entra: {tenant_id: b.onmicrosoft.com}}
    streams: [{channel: A, rules: [{filter: (.*)}]}]
`
	path := writeConfig(t, body)
	t.Setenv("SCIM_STREAM_ENTRA_MY-COMPANY_AUTH_OAUTH_CLIENTS[0]_CLIENTSECRET", "dash-kept")
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_GENERAL_REQUESTTIMEOUT", "30")
	t.Setenv("SCIM_STREAM_ENTRA_HR_CO_OAUTH_CLIENTS[0]_CLIENTSECRET", "underscore-kept")
	t.Setenv("SCIM_STREAM_ENTRA_HRCO_GENERAL_REQUESTTIMEOUT", "40")
	c, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	mc, hc := c.Entra["My-Company"], c.Entra["HR_Co"]
	if mc == nil || hc == nil || len(c.Entra) != 2 {
		t.Fatalf("tenants %v", c.Entra)
	}
	if mc.Auth.OAuth.Clients[0].ClientSecret.Reveal() != "dash-kept" || mc.General.RequestTimeout != 30 {
		t.Errorf("my-company: secret %q, request_timeout %d", mc.Auth.OAuth.Clients[0].ClientSecret.Reveal(), mc.General.RequestTimeout)
	}
	if hc.Auth.OAuth.Clients[0].ClientSecret.Reveal() != "underscore-kept" || hc.General.RequestTimeout != 40 {
		t.Errorf("hr_co: secret %q, request_timeout %d", hc.Auth.OAuth.Clients[0].ClientSecret.Reveal(), hc.General.RequestTimeout)
	}
}

// TestEnvListIndexAsKey: CLIENTS_0_CLIENTSECRET is CLIENTS[0]_CLIENTSECRET, the spelling bash, dash, Kubernetes
// and systemd accept; a gap is refused as with brackets, and a number under a key that is not a list is not an
// index.
func TestEnvListIndexAsKey(t *testing.T) {
	path := writeConfig(t, envBase)
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS_0_CLIENTSECRET", "env-secret-0")
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_OAUTH_CLIENTS_1_CLIENTID", "second-client")
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_OAUTH_CLIENTS_1_CLIENTSECRET", "env-secret-1")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Entra["MyCompany"].Auth.OAuth.Clients
	if len(cl) != 2 || cl[0].ClientID != "first-client" || cl[0].ClientSecret.Reveal() != "env-secret-0" ||
		cl[1].ClientID != "second-client" || cl[1].ClientSecret.Reveal() != "env-secret-1" {
		t.Errorf("clients %+v", cl)
	}

	// The same variable must be exportable by a POSIX shell.
	out, err := exec.Command("sh", "-c", `export SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS_0_CLIENTSECRET=x && echo ok`).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("sh cannot export the variable: %v %s", err, out)
	}

	for name, want := range map[string]string{
		"SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS_5_CLIENTID": "index 5 would leave a gap",
		"SCIM_STREAM_LOG_LEVEL_0":                                   `"log.level" is a single value`,
	} {
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, envBase)
			t.Setenv(name, "x")
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want an error with %q", name, err, want)
			}
		})
	}
}

// TestREADMEEnvExamples: every `export SCIM_STREAM_…=…` line of the README is valid for a POSIX shell and names a
// configuration key.
func TestREADMEEnvExamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "export SCIM_STREAM_") || strings.HasPrefix(line, "export SCIM_STREAM_VAULTFILE") {
			continue
		}
		n++
		if out, err := exec.Command("sh", "-c", line+" && echo ok").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("README.md:%d: %s: not valid for sh: %v %s", i+1, line, err, out)
		}
		name, value, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		t.Run(name, func(t *testing.T) {
			path := writeConfig(t, envBase)
			t.Setenv(name, value)
			if _, err := Load(path); err != nil {
				for _, bad := range []string{"does not name a configuration key", "is not a list", "bad list index", "names the section"} {
					if strings.Contains(err.Error(), bad) {
						t.Errorf("README.md:%d: %s: %v", i+1, name, err)
					}
				}
			}
		})
	}
	if n < 3 {
		t.Errorf("found %d export lines in the README", n)
	}
}
