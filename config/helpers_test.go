package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"
)

// writeConfig writes body to a fresh config.yaml and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func seed(t *testing.T, create func() (nkeys.KeyPair, error)) string {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	s, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return string(s)
}

// mustErrors loads path and returns the problems, failing when it loads.
func mustErrors(t *testing.T, path string) ErrorList {
	t.Helper()
	_, err := Check(path)
	if err == nil {
		t.Fatalf("%s loaded, want errors", path)
	}
	l, ok := IsErrorList(err)
	if !ok {
		t.Fatalf("%s: %v is not an ErrorList", path, err)
	}
	return l
}

func removeFile(path string) error { return os.Remove(path) }
