package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/internal/demo"
)

// TestDemo runs `scim-stream demo -interactive` as a user would: the initial load reaches the gateway's store
// (every HR person but the future hire, every in-scope Entra user), the summary table is printed, a title
// change typed at the prompt flows to the store, a leaver becomes inactive, and quit stops everything cleanly.
func TestDemo(t *testing.T) {
	t.Setenv("SEED", "demo-test-seed")
	in, typing := io.Pipe()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	done := make(chan int, 1)
	go func() {
		done <- demoWith(ctx, demo.Options{Dir: dir, People: 8, Interactive: true, Stdin: in, Stdout: &out, Stderr: &errOut})
	}()
	waitOutput(t, &out, &errOut, "Summary after", 60*time.Second)
	summary := out.String()
	// 8 people, one a future hire: 7 HR users; the seeded Entra tenant has 21 users in scope (the guest is not).
	for _, re := range []string{`HR\.SF\s+7\s+0\s+0\s+7\s+0\s+0`, `ENTRA\.APP5\s+21\s+0\s+0\s+21\s+0\s+0`, `store holds 28 users`} {
		if !regexp.MustCompile(re).MatchString(summary) {
			t.Errorf("summary lacks %s:\n%s", re, summary)
		}
	}
	if _, err := io.WriteString(typing, "title 1003 Chief Dog Trainer\n"); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, &errOut, "provisioned  HR.SF       modified   1003", 30*time.Second)
	if !strings.Contains(out.String(), "modifyUser 1003 (Clara Haugen) [replace title]") {
		t.Errorf("the title change was not published as one replace of title:\n%s", out.String())
	}
	if _, err := io.WriteString(typing, "leave 1005\nnonsense\n"); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, &errOut, "provisioned  HR.SF       modified   1005", 30*time.Second)
	waitOutput(t, &out, &errOut, `unknown command "nonsense"`, 5*time.Second)
	// A role john.smith already holds changes nothing, and says so; one he does not hold reaches ENTRA.APP1.
	if _, err := io.WriteString(typing, "role john.smith Application1 Admins\nrole eva.schmidt Application1 Admins\n"); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, &errOut, "no change    ENTRA       john.smith already has role Admins of Application1 directly: nothing to collect", 5*time.Second)
	waitOutput(t, &out, &errOut, "ENTRA.APP1  modifyUser eva.schmidt@mycompany.com (Eva Schmidt) [add roles]", 30*time.Second)
	checkREADMEDemoSample(t, out.String())
	if _, err := io.WriteString(typing, "store\nquit\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("demo exited %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("demo did not stop on quit:\n%s", out.String())
	}
	got := out.String()
	if !regexp.MustCompile(`(?m)^1005\s+active=false`).MatchString(got) || !regexp.MustCompile(`(?m)^1003\s+active=true title=Chief Dog Trainer`).MatchString(got) {
		t.Errorf("store listing does not show the changes:\n%s", got)
	}
	if !strings.HasSuffix(strings.TrimSpace(got), "demo stopped") {
		t.Errorf("demo did not report a clean stop:\n%s", got)
	}
	// -dir keeps configuration (with secrets encrypted), NATS store and gateway store.
	for _, f := range []string{"config/config.yaml", "config/jetstream", "demo.db", "scim-stream.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("-dir lacks %s: %v", f, err)
		}
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "config", "config.yaml"))
	if strings.Contains(string(cfg), "demo-client-secret") || strings.Contains(string(cfg), "demo-api-password") {
		t.Error("the demo configuration keeps a secret in clear text")
	}
}

func waitOutput(t *testing.T, out, errOut *syncBuffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s; output:\n%s\nerrors:\n%s", want, within, out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
