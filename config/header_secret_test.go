package config

import (
	"strings"
	"testing"
)

// TestAuthHeaderValuesEncrypted: auth.header values (API keys) are encrypted in the file on load like every other
// secret, decrypted in the loaded configuration, and masked in logs.
func TestAuthHeaderValuesEncrypted(t *testing.T) {
	t.Setenv("SEED", "header-seed")
	body, _ := leakConfig(t)
	body = strings.Replace(body, "      basic: {username: api,", "      header:\n        X-Api-Key: leak-header-api-key\n      basic: {username: api,", 1)
	if !strings.Contains(body, "leak-header-api-key") {
		t.Fatal("the test configuration has no auth.header")
	}
	path := writeConfig(t, body)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.HR["mycompany"].Auth.Header["X-Api-Key"]; got != "leak-header-api-key" {
		t.Fatalf("loaded header value %q", got)
	}
	file := readFile(t, path)
	if strings.Contains(file, "leak-header-api-key") || !strings.Contains(file, "X-Api-Key: "+EncPrefix) {
		t.Fatalf("the header value is not encrypted in the file:\n%s", file)
	}
	if got := MaskSecrets("sent X-Api-Key leak-header-api-key"); strings.Contains(got, "leak-header-api-key") {
		t.Fatalf("the header value is not masked: %s", got)
	}
	// Loaded again from the encrypted file: the same value.
	c, err = Load(path)
	if err != nil || c.HR["mycompany"].Auth.Header["X-Api-Key"] != "leak-header-api-key" {
		t.Fatalf("reload: %v %v", err, c)
	}
}
