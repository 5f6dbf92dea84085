package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cryptBase has secrets in every spelling an operator may use: plain, double and single quoted, followed by a
// comment, in a flow mapping, with a multi-byte character before it on the line.
const cryptBase = `# Company config — comments, blank lines and odd indentation must survive.
entra:
  mycompany:   # the tenant
    auth:
      oauth:
        clients:
          - client_id: app-1
            client_secret: plain-Secret~1   # rotate yearly
          - {client_id: app-2, client_secret: "quoted \"secret\" 2"}
    general:
      entra:
        tenant_id: mycompany.onmicrosoft.com

    streams:
      - channel: APP1
        rules:
          - filter: (.*)
email:
    smtp:
        host: smtp.office365.com
        port: 587
        username: sender@mycompany.com
        password: 'single ''quoted'' pässword'
        proxy_password: ""
nats:
    server:
        encryption_at_rest_key: ÆØÅ-at-rest-key
`

var cryptSecrets = map[string]string{
	"plain-Secret~1":           "entra.mycompany.auth.oauth.clients[0].client_secret",
	`quoted "secret" 2`:        "entra.mycompany.auth.oauth.clients[1].client_secret",
	"single 'quoted' pässword": "email.smtp.password",
	"ÆØÅ-at-rest-key":          "nats.server.encryption_at_rest_key",
}

func TestEncryptOnFirstStart(t *testing.T) {
	t.Setenv("SEED", "SomeRandomCharacters:-)")
	path := writeConfig(t, cryptBase)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	after := readFile(t, path)
	for clear := range cryptSecrets {
		if strings.Contains(after, clear) {
			t.Errorf("clear text %q still in the file", clear)
		}
	}
	// Byte for byte, the file minus the secret lines is unchanged.
	before := strings.Split(cryptBase, "\n")
	lines := strings.Split(after, "\n")
	if len(lines) != len(before) {
		t.Fatalf("line count %d -> %d:\n%s", len(before), len(lines), after)
	}
	encrypted := 0
	for i := range before {
		if before[i] == lines[i] {
			continue
		}
		encrypted++
		// Only the value changed: same text before it, the comment after it kept.
		k := strings.Index(before[i], "secret: ")
		if k < 0 {
			k = strings.Index(before[i], "password: ")
		}
		if k < 0 {
			k = strings.Index(before[i], "key: ")
		}
		if k < 0 || !strings.HasPrefix(lines[i], before[i][:k]) || !strings.Contains(lines[i], EncPrefix) {
			t.Errorf("line %d changed beyond its secret:\n%s\n%s", i+1, before[i], lines[i])
		}
		if strings.Contains(before[i], "# rotate yearly") && !strings.HasSuffix(lines[i], "   # rotate yearly") {
			t.Errorf("comment lost on line %d: %s", i+1, lines[i])
		}
		if strings.Contains(before[i], "{client_id") && !strings.HasSuffix(lines[i], "}") {
			t.Errorf("flow mapping broken on line %d: %s", i+1, lines[i])
		}
	}
	if encrypted != 4 {
		t.Errorf("%d lines changed, want the 4 secret lines:\n%s", encrypted, after)
	}
	// The loaded snapshot has the clear text; so does the next load of the encrypted file, which leaves it alone.
	cl := c.Entra["mycompany"].Auth.OAuth.Clients
	c2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cl2 := c2.Entra["mycompany"].Auth.OAuth.Clients
	for _, got := range []Secret{cl[0].ClientSecret, cl[1].ClientSecret, c.Email.SMTP.Password, c.Nats.Server.EncryptionAtRestKey,
		cl2[0].ClientSecret, cl2[1].ClientSecret, c2.Email.SMTP.Password, c2.Nats.Server.EncryptionAtRestKey} {
		if _, ok := cryptSecrets[got.Reveal()]; !ok {
			t.Errorf("decrypted secret %q is not one of the originals", got.Reveal())
		}
	}
	if readFile(t, path) != after {
		t.Error("a second load rewrote an already encrypted file")
	}
}

func TestWrongSeed(t *testing.T) {
	t.Setenv("SEED", "first-seed")
	path := writeConfig(t, cryptBase)
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEED", "another-seed")
	l := mustErrors(t, path)
	if len(l) != len(cryptSecrets) {
		t.Errorf("%d errors, want one per secret:\n%v", len(l), l)
	}
	paths := map[string]bool{}
	for _, e := range l {
		paths[e.Path] = true
		if !strings.Contains(e.Msg, "set SEED") || !strings.Contains(e.Msg, "clear text") {
			t.Errorf("error does not say how to fix it: %v", e)
		}
		if e.Line == 0 {
			t.Errorf("error without line: %v", e)
		}
	}
	for clear, p := range cryptSecrets {
		if !paths[p] {
			t.Errorf("no error names %s", p)
		}
		if strings.Contains(l.Error(), clear) {
			t.Errorf("error shows the secret %q", clear)
		}
	}
	// Secrets supplied by the environment or the vault file replace the ones encrypted with the other seed: the
	// file copied from another machine loads (here: every secret of it overridden).
	vault := filepath.Join(t.TempDir(), "vault")
	if err := os.WriteFile(vault, []byte("SCIM_STREAM_EMAIL_SMTP_PASSWORD=from-vault\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCIM_STREAM_VAULTFILE", vault)
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[0]_CLIENTSECRET", "env-1")
	t.Setenv("SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[1]_CLIENTSECRET", "env-2")
	l = mustErrors(t, path)
	if len(l) != 1 || l[0].Path != "nats.server.encryption_at_rest_key" {
		t.Fatalf("with three of four secrets overridden: %v", l)
	}
	t.Setenv("SCIM-STREAM_NATS_SERVER_ENCRYPTIONATRESTKEY", "env-at-rest")
	c, err := Check(path)
	if err != nil {
		t.Fatalf("every secret overridden, still: %v", err)
	}
	if c.Email.SMTP.Password.Reveal() != "from-vault" || c.Nats.Server.EncryptionAtRestKey.Reveal() != "env-at-rest" ||
		c.Entra["mycompany"].Auth.OAuth.Clients[1].ClientSecret.Reveal() != "env-2" {
		t.Errorf("overridden secrets: %+v", c.Email.SMTP)
	}
	os.Unsetenv("SCIM_STREAM_VAULTFILE")
	os.Unsetenv("SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[0]_CLIENTSECRET")
	os.Unsetenv("SCIM_STREAM_ENTRA_MYCOMPANY_AUTH_OAUTH_CLIENTS[1]_CLIENTSECRET")
	os.Unsetenv("SCIM-STREAM_NATS_SERVER_ENCRYPTIONATRESTKEY")

	// The right seed opens it again.
	t.Setenv("SEED", "first-seed")
	if _, err := Check(path); err != nil {
		t.Fatal(err)
	}
}

func TestMachineIdentityKey(t *testing.T) {
	t.Setenv("SEED", "")
	os.Unsetenv("SEED")
	path := writeConfig(t, cryptBase)
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(readFile(t, path), "plain-Secret~1") {
		t.Fatal("not encrypted without SEED")
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Entra["mycompany"].Auth.OAuth.Clients[0].ClientSecret.Reveal() != "plain-Secret~1" {
		t.Error("machine key round trip failed")
	}
	t.Setenv("SEED", "a-seed")
	if _, err := Check(path); err == nil {
		t.Error("a file encrypted with the machine identity opened with SEED set")
	}
}

func TestCheckDoesNotWrite(t *testing.T) {
	t.Setenv("SEED", "x-seed")
	path := writeConfig(t, cryptBase)
	if _, err := Check(path); err != nil {
		t.Fatal(err)
	}
	if readFile(t, path) != cryptBase {
		t.Error("Check modified the file")
	}
}

func TestTamperedValue(t *testing.T) {
	t.Setenv("SEED", "x-seed")
	path := writeConfig(t, cryptBase)
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	data := readFile(t, path)
	i := strings.Index(data, EncPrefix) + len(EncPrefix) + 20
	b := []byte(data)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	l := mustErrors(t, path)
	if len(l) != 1 || l[0].Path != "entra.mycompany.auth.oauth.clients[0].client_secret" {
		t.Errorf("tampered value: %v", l)
	}
}
