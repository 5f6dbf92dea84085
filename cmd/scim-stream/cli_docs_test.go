package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
)

// TestTopLevelHelpAndVersion: -h and --help print the sub-commands (not run's flags), --version the version.
func TestTopLevelHelpAndVersion(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help", "help"} {
		out, _ := mustCLI(t, arg)
		if !strings.Contains(out, "sub-commands:") || !strings.Contains(out, "bootstrap") || strings.Contains(out, "-http") {
			t.Errorf("scim-stream %s printed:\n%s", arg, out)
		}
	}
	for _, arg := range []string{"--version", "-version"} {
		out, _ := mustCLI(t, arg)
		if out != "scim-stream "+buildVersion()+"\n" {
			t.Errorf("scim-stream %s printed %q", arg, out)
		}
	}
	// Flags first still run the main job: -config of a missing file creates it and names the bootstrap.
	path := filepath.Join(t.TempDir(), "config", "config.yaml")
	code, _, errOut := cli(t, "-config", path)
	if code != 1 || !strings.Contains(errOut, "scim-stream bootstrap") {
		t.Errorf("scim-stream -config %s = %d: %s", path, code, errOut)
	}
}

// TestBootstrapRepeatedFlags: -hr acme -hr initech adds both tenants (a repeated flag used to keep the last).
func TestBootstrapRepeatedFlags(t *testing.T) {
	_, cfg := bootstrapped(t, "-hr", "acme", "-hr", "initech,globex", "-entra", "acme", "-entra", "acme")
	for _, n := range []string{"acme", "initech", "globex"} {
		if cfg.HR[n] == nil {
			t.Errorf("hr tenant %s missing: %v", n, cfg.HR)
		}
	}
	if len(cfg.HR) != 3 || len(cfg.Entra) != 1 || cfg.Entra["acme"] == nil {
		t.Errorf("hr %d tenants, entra %v", len(cfg.HR), cfg.Entra)
	}
}

// TestRouteNamesTheMissingFlag: bootstrap -entra T -hr T makes two tenants of one name; route then asks for
// -type (and works with it), instead of "-tenant and -type".
func TestRouteNamesTheMissingFlag(t *testing.T) {
	path, _ := bootstrapped(t, "-entra", "mycompany", "-hr", "mycompany")
	user := filepath.Join(t.TempDir(), "user.json")
	if err := os.WriteFile(user, []byte(`{"userName": "john.smith@mycompany.com"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := cli(t, "route", "-config", path, "-user", user)
	if code != 1 || !strings.Contains(errOut, "several tenants fit (entra.mycompany, hr.mycompany): add -type entra or -type hr") {
		t.Errorf("route without -type = %d: %s", code, errOut)
	}
	mustCLI(t, "route", "-config", path, "-type", "entra", "-user", user)

	path, _ = bootstrapped(t, "-hr", "acme,initech")
	code, _, errOut = cli(t, "route", "-config", path, "-user", user)
	if code != 1 || !strings.Contains(errOut, "add -tenant NAME") {
		t.Errorf("route with two hr tenants = %d: %s", code, errOut)
	}
}

// TestCredsOutIsPrivate: -out writes the credentials with mode 0600, also over an existing 0644 file; when
// stdout is a regular file (`creds > x.creds`), its mode is narrowed to 0600 and the user is told.
func TestCredsOutIsPrivate(t *testing.T) {
	path, _ := bootstrapped(t, "-hr", "mycompany")
	dir := t.TempDir()
	out := filepath.Join(dir, "gw.creds")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := mustCLI(t, "creds", "-config", path, "-tenant", "mycompany", "-type", "hr", "-durable", "d1", "-out", out)
	if stdout != "" || !strings.Contains(stderr, "wrote "+out+" (mode 0600)") {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	checkPrivateCreds(t, out)

	redirected := filepath.Join(dir, "redirected.creds")
	f, err := os.OpenFile(redirected, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	code := dispatch([]string{"creds", "-config", path, "-tenant", "mycompany", "-type", "hr", "-durable", "d2"}, f, &errOut)
	f.Close()
	if code != 0 || !strings.Contains(errOut.String(), "mode was 0644, now 0600") {
		t.Errorf("creds > file = %d: %s", code, errOut.String())
	}
	checkPrivateCreds(t, redirected)

	code, _, e := cli(t, "creds", "-config", path, "-tenant", "mycompany", "-type", "hr", "-durable", "d3", "-out", filepath.Join(dir, "missing", "x.creds"))
	if code != 1 || !strings.Contains(e, "-out "+filepath.Join(dir, "missing", "x.creds")) {
		t.Errorf("-out into a missing directory = %d: %s", code, e)
	}
}

func checkPrivateCreds(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %04o, want 0600", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.ParseDecoratedJWT(data); err != nil {
		t.Errorf("%s: no user JWT: %v\n%s", path, err, data)
	}
	if _, err := jwt.ParseDecoratedNKey(data); err != nil {
		t.Errorf("%s: no user seed: %v\n%s", path, err, data)
	}
}

// TestREADMECredsExamplesRun runs every `scim-stream creds` command line of the README (its redirection dropped,
// -config added) on a configuration bootstrapped with the README's tenant: each must succeed as written.
func TestREADMECredsExamplesRun(t *testing.T) {
	path, _ := bootstrapped(t, "-entra", "mycompany", "-hr", "mycompany")
	f, err := os.Open(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	outDir := t.TempDir()
	cmdLine := regexp.MustCompile(`^(?:\./)?scim-stream creds (.*)$`)
	n := 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if i := strings.Index(text, "   #"); i > 0 {
			text = strings.TrimSpace(text[:i])
		}
		m := cmdLine.FindStringSubmatch(text)
		if m == nil || strings.ContainsAny(m[1], "[|") { // the synopsis, not an example
			continue
		}
		args := m[1]
		if i := strings.Index(args, ">"); i >= 0 {
			args = args[:i]
		}
		argv := append([]string{"creds", "-config", path}, strings.Fields(args)...)
		for i := range argv {
			if argv[i] == "-out" && i+1 < len(argv) {
				argv[i+1] = filepath.Join(outDir, argv[i+1]) // not into the source tree
			}
		}
		n++
		if code, _, errOut := cli(t, argv...); code != 0 {
			t.Errorf("README.md:%d: scim-stream creds %s = %d: %s", line, args, code, errOut)
		}
	}
	if n < 5 {
		t.Errorf("found %d creds examples in the README, expected the documented ones", n)
	}
}

// demoLine is a demo output line without its elapsed time.
var demoLine = regexp.MustCompile(`^\s*\d+\.\d+s  (.*)$`)

// checkREADMEDemoSample compares the README's quick-start samples with a demo run's output: the first sample (no
// -interactive) shows no change after the initial load, and every line of the interactive sample — after the
// commands TestDemo types — is printed by the demo, elapsed times aside.
func checkREADMEDemoSample(t *testing.T, output string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	quick := string(data)
	start := strings.Index(quick, "## Quick start")
	end := strings.Index(quick[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("README.md: no Quick start section")
	}
	var blocks []string // the section's fenced code blocks: the commands, the sample, the interactive sample
	in := false
	for _, l := range strings.Split(quick[start:start+1+end], "\n") {
		switch {
		case strings.HasPrefix(l, "```"):
			if !in {
				blocks = append(blocks, "")
			}
			in = !in
		case in:
			blocks[len(blocks)-1] += l + "\n"
		}
	}
	if len(blocks) < 3 {
		t.Fatalf("README.md Quick start: %d code blocks, want the commands and two output samples", len(blocks))
	}
	if strings.Contains(blocks[1], " changed  ") {
		t.Errorf("README.md: the sample without -interactive shows a change, which only -interactive makes:\n%s", blocks[1])
	}
	have := map[string]bool{}
	for _, l := range strings.Split(output, "\n") {
		if m := demoLine.FindStringSubmatch(l); m != nil {
			have[m[1]] = true
		}
	}
	n := 0
	for _, l := range strings.Split(blocks[2], "\n") {
		m := demoLine.FindStringSubmatch(l)
		if m == nil {
			continue // a typed command
		}
		n++
		if !have[m[1]] {
			t.Errorf("README.md interactive sample line %q is not what the demo prints", strings.TrimSpace(l))
		}
	}
	if n == 0 {
		t.Errorf("README.md: the interactive sample has no output lines:\n%s", blocks[2])
	}
}
