package config

import (
	"strings"
	"testing"
)

const updateBase = `# top comment
entra:
  mycompany:
    auth:
      oauth:
        clients:
          - client_id: a
            client_secret: bcd
    general:
      collect_interval: 5      # seconds
      do_initial_load: true    # consumed by the collector
      do_initial_load_filter: (user.title -match "Consultant")
      entra:
        tenant_id: t.onmicrosoft.com
    streams:
      - channel: APP1
        rules:
          - filter: (.*)
hr:
    other:
        general:
            do_initial_load:
            do_initial_load_filter:
`

func TestClearInitialLoadInPlace(t *testing.T) {
	t.Setenv("SEED", "update-seed")
	path := writeConfig(t, updateBase)
	if err := ClearInitialLoad(path, "entra", "mycompany"); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(updateBase, "do_initial_load: true    # consumed", "do_initial_load: false    # consumed", 1)
	want = strings.Replace(want, `do_initial_load_filter: (user.title -match "Consultant")`, "do_initial_load_filter: null", 1)
	if got := readFile(t, path); got != want {
		t.Errorf("file after ClearInitialLoad:\n%s\nwant:\n%s", got, want)
	}
	// Empty values (`key:` and nothing) get the value after the colon.
	if err := ClearInitialLoad(path, "hr", "other"); err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(want, "            do_initial_load:\n            do_initial_load_filter:\n",
		"            do_initial_load: false\n            do_initial_load_filter: null\n", 1)
	if got := readFile(t, path); got != want {
		t.Errorf("file after ClearInitialLoad on empty values:\n%s\nwant:\n%s", got, want)
	}
}

func TestUpdateSecretInPlace(t *testing.T) {
	t.Setenv("SEED", "update-seed")
	path := writeConfig(t, updateBase)
	if err := Update(path, Change{Path: []string{"entra", "mycompany", "auth", "oauth", "clients", "0", "client_secret"}, Value: Secret("new-client-secret")}); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	if strings.Contains(got, "new-client-secret") || !strings.Contains(got, "client_secret: "+EncPrefix) {
		t.Fatalf("secret not written encrypted:\n%s", got)
	}
	if strings.Replace(got, got[strings.Index(got, EncPrefix):strings.Index(got, "\n    general")], "bcd", 1) != updateBase {
		t.Errorf("more than the secret changed:\n%s", got)
	}
	if got := decryptedSecrets(t, got)["entra.mycompany.auth.oauth.clients[0].client_secret"]; got != "new-client-secret" {
		t.Errorf("written secret decrypts to %q", got)
	}
}

// decryptedSecrets returns the clear text of every secret in a file's text, by key path.
func decryptedSecrets(t *testing.T, data string) map[string]string {
	t.Helper()
	l := newLoader("test")
	root, err := l.parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	k, err := MachineKey()
	if err != nil {
		t.Fatal(err)
	}
	l.decryptSecrets(root, "", k)
	if len(l.errs) > 0 {
		t.Fatal(l.errs)
	}
	found := map[string]string{}
	for _, s := range secretNodes(root, "", nil) {
		found[s.path] = s.node.Value
	}
	return found
}

func TestUpdateStructural(t *testing.T) {
	t.Setenv("SEED", "update-seed")
	path := writeConfig(t, updateBase)
	err := Update(path,
		Change{Path: []string{"hr", "other"}, Value: nil}, // delete
		Change{Path: []string{"nats", "server", "auth", "operator"}, Value: map[string]any{"jwt": "eyJ.op", "secret": "operator-seed-value"}},
		Change{Path: []string{"nats", "server", "auth", "account", "mycompany", "entra", "signing"}, Value: map[string]string{"pub_secret": "signing-seed-value"}},
		Change{Path: []string{"entra", "mycompany", "general", "do_initial_load"}, Value: false},
	)
	if err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	for _, want := range []string{"# top comment", "# seconds", "# consumed by the collector", "do_initial_load: false",
		"operator:", "jwt: eyJ.op", "secret: " + EncPrefix, "pub_secret: " + EncPrefix} {
		if !strings.Contains(got, want) {
			t.Errorf("file lacks %q:\n%s", want, got)
		}
	}
	for _, clear := range []string{"operator-seed-value", "signing-seed-value", "other:"} {
		if strings.Contains(got, clear) {
			t.Errorf("file still has %q:\n%s", clear, got)
		}
	}
	// Order kept: entra before nats, general keys in their order.
	if strings.Index(got, "entra:") > strings.Index(got, "nats:") || strings.Index(got, "collect_interval") > strings.Index(got, "do_initial_load") {
		t.Errorf("order changed:\n%s", got)
	}
	// The encrypted values decrypt to what was written.
	found := decryptedSecrets(t, got)
	if found["nats.server.auth.operator.secret"] != "operator-seed-value" || found["nats.server.auth.account.mycompany.entra.signing.pub_secret"] != "signing-seed-value" {
		t.Errorf("decrypted %v", found)
	}
}

func TestUpdateErrors(t *testing.T) {
	path := writeConfig(t, updateBase)
	if err := Update(path, Change{Path: []string{"entra", "mycompany", "general", "collect_interval", "x"}, Value: 1}); err == nil ||
		!strings.Contains(err.Error(), "entra.mycompany.general.collect_interval is a single value") {
		t.Errorf("update below a scalar: %v", err)
	}
	if readFile(t, path) != updateBase {
		t.Error("a failed update changed the file")
	}
}
