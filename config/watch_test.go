package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// saveLikeEditor replaces the file through a temporary file and a rename, as most editors do.
func saveLikeEditor(t *testing.T, path, body string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".config.yaml.swp")
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	t.Setenv("SEED", "watch-seed")
	base := readFile(t, "../testdata/config/entra-example.yaml")
	path := writeConfig(t, base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	configs := make(chan *Config, 10)
	errs := make(chan error, 10)
	w, err := NewWatcher(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, 50*time.Millisecond, func(c *Config) { configs <- c }, func(err error) { errs <- err })
	}()

	// A valid edit arrives within a second.
	start := time.Now()
	saveLikeEditor(t, path, strings.Replace(base, "collect_interval: 5", "collect_interval: 10", 1))
	select {
	case c := <-configs:
		if got := c.Entra["mycompany"].General.CollectInterval.Seconds; got != 10 {
			t.Errorf("collect_interval %d, want 10", got)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("valid edit delivered after %v, want within 1s", d)
		}
	case err := <-errs:
		t.Fatalf("valid edit reported as error: %v", err)
	case <-time.After(time.Second):
		t.Fatal("valid edit not delivered within 1s")
	}
	// Load encrypted the clear-text secrets of the edited file: that rewrite is not a new snapshot.
	select {
	case c := <-configs:
		t.Fatalf("our own encryption rewrite delivered a snapshot again: %v", c.Entra["mycompany"].General.CollectInterval)
	case <-time.After(300 * time.Millisecond):
	}

	// An invalid edit (written in place this time) is reported, no snapshot is delivered.
	cur := readFile(t, path)
	if err := os.WriteFile(path, []byte(strings.Replace(cur, "collect_interval: 10", "collect_interval: 3", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-configs:
		t.Fatalf("invalid edit delivered: %+v", c.Entra["mycompany"].General)
	case err := <-errs:
		if !strings.Contains(err.Error(), `entra.mycompany.general.collect_interval: "3" is below the minimum of 5 seconds`) {
			t.Errorf("error %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("invalid edit not reported within 1s")
	}

	// Fixing it delivers again.
	saveLikeEditor(t, path, strings.Replace(cur, "collect_interval: 10", "collect_interval: 20", 1))
	select {
	case c := <-configs:
		if got := c.Entra["mycompany"].General.CollectInterval.Seconds; got != 20 {
			t.Errorf("collect_interval %d, want 20", got)
		}
	case err := <-errs:
		t.Fatalf("fixed edit reported as error: %v", err)
	case <-time.After(time.Second):
		t.Fatal("fixed edit not delivered within 1s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWatchVaultFile(t *testing.T) {
	t.Setenv("SEED", "watch-seed")
	path := writeConfig(t, readFile(t, "../testdata/config/entra-example.yaml"))
	vault := filepath.Join(t.TempDir(), "vault")
	if err := os.WriteFile(vault, []byte("SCIM_STREAM_LOG_LEVEL=info\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCIM_STREAM_VAULTFILE", vault)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	configs := make(chan *Config, 10)
	w, err := NewWatcher(path)
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(ctx, 50*time.Millisecond, func(c *Config) { configs <- c }, func(err error) { t.Error(err) })
	if err := os.WriteFile(vault, []byte("SCIM_STREAM_LOG_LEVEL=debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-configs:
		if c.Log.Level != "debug" {
			t.Errorf("log.level %q after a vault edit", c.Log.Level)
		}
	case <-time.After(time.Second):
		t.Fatal("vault edit not delivered within 1s")
	}
}

// TestWatchIgnoresStartupEncryption: the main job watches, then loads (which encrypts the clear-text secrets by
// rewriting the file), then runs the watcher. That rewrite is no edit: nothing is delivered until a real one.
func TestWatchIgnoresStartupEncryption(t *testing.T) {
	t.Setenv("SEED", "watch-seed")
	base := readFile(t, "../testdata/config/entra-example.yaml")
	path := writeConfig(t, base)
	w, err := NewWatcher(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if readFile(t, path) == base {
		t.Fatal("control: Load did not rewrite the file to encrypt its secrets")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	configs := make(chan *Config, 10)
	go w.Run(ctx, 50*time.Millisecond, func(c *Config) { configs <- c }, func(err error) { t.Error(err) })
	select {
	case c := <-configs:
		t.Fatalf("the start-up encryption rewrite was delivered as a change (collect_interval %v)", c.Entra["mycompany"].General.CollectInterval)
	case <-time.After(500 * time.Millisecond):
	}
	saveLikeEditor(t, path, strings.Replace(readFile(t, path), "collect_interval: 5", "collect_interval: 15", 1))
	select {
	case c := <-configs:
		if got := c.Entra["mycompany"].General.CollectInterval.Seconds; got != 15 {
			t.Errorf("collect_interval %d, want 15", got)
		}
	case <-time.After(time.Second):
		t.Fatal("edit after start-up not delivered within 1s")
	}
}
