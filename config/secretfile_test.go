package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// A JSON file with its own secret keys (a gateway's) is encrypted in place with config.yaml's key and format: it
// stays JSON, only the secrets' bytes change, and the values decrypt to the originals.
func TestEncryptInPlaceKeepsJSON(t *testing.T) {
	t.Setenv("SEED", "secretfile-test")
	path := filepath.Join(t.TempDir(), "plugin.json")
	orig := "{\n  \"auth\": {\"password\": \"p4ss\", \"apiKey\": \"k\\\"ey\"},\n  \"list\": [{\"clientSecret\": \"cs\"}],\n  \"name\": \"x\"\n}\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(orig), &doc); err != nil {
		t.Fatal(err)
	}
	isSecret := func(k string) bool { return IsSecretKey(k) || k == "apiKey" || strings.HasSuffix(k, "Secret") }
	secrets := SecretValues(doc.Content[0], isSecret)
	var paths []string
	for _, s := range secrets {
		paths = append(paths, s.Path)
	}
	if strings.Join(paths, " ") != "auth.password auth.apiKey list[0].clientSecret" {
		t.Fatalf("SecretValues = %v", paths)
	}
	key, err := MachineKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := EncryptInPlace(path, []byte(orig), secrets, key); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Auth struct {
			Password string
			APIKey   string `json:"apiKey"`
		}
		List []struct{ ClientSecret string }
		Name string
	}
	if err := json.Unmarshal(after, &v); err != nil {
		t.Fatalf("not JSON after encryption: %v\n%s", err, after)
	}
	if v.Name != "x" || strings.Count(string(after), `"`+EncPrefix) != 3 || strings.Count(string(after), "\n") != strings.Count(orig, "\n") {
		t.Fatalf("want the three secrets encrypted and nothing else changed:\n%s", after)
	}
	for enc, want := range map[string]string{v.Auth.Password: "p4ss", v.Auth.APIKey: `k"ey`, v.List[0].ClientSecret: "cs"} {
		if got, err := DecryptSecret(key, enc); err != nil || got != want {
			t.Errorf("DecryptSecret(%s) = %q, %v; want %q", enc, got, err, want)
		}
	}
	// A file that changed since it was read is left alone.
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := EncryptInPlace(path, []byte(orig+" "), secrets, key); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(path); string(now) != orig {
		t.Fatalf("a file changed meanwhile was rewritten:\n%s", now)
	}
}
