package deploy

import (
	"bufio"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const releaseScript = "scripts/release.sh"

// TestReleaseScriptTargets: the default platforms are the ones the README promises.
func TestReleaseScriptTargets(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, releaseScript))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`TARGETS:-"([^"]+)"`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s: no default TARGETS", releaseScript)
	}
	targets := strings.Fields(string(m[1]))
	for _, want := range []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"} {
		if !slices.Contains(targets, want) {
			t.Errorf("%s: default targets %v lack %s", releaseScript, targets, want)
		}
	}
	// Every default target is one the Go toolchain knows.
	out, err := exec.Command("go", "tool", "dist", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	known := strings.Fields(string(out))
	for _, tg := range targets {
		if !slices.Contains(known, tg) {
			t.Errorf("%s: %s is not a Go platform", releaseScript, tg)
		}
	}
}

// TestReleaseScriptBuildsStampedBinariesWithSums runs the script for this machine's platform (the other
// platforms build the same way; cross-compiling all five here would take minutes of the shared CPUs).
func TestReleaseScriptBuildsStampedBinariesWithSums(t *testing.T) {
	out := t.TempDir()
	const version = "v9.8.7-releasetest"
	cmd := exec.Command("bash", releaseScript, version, out)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "TARGETS="+runtime.GOOS+"/"+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", releaseScript, err, b)
	}
	name := "scim-stream_" + version + "_" + runtime.GOOS + "_" + runtime.GOARCH
	bin := filepath.Join(out, name)
	v, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(v)) != "scim-stream "+version {
		t.Errorf("%s version: %q %v, want the stamped %s", name, v, err, version)
	}
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		f.Close()
	}

	// SHA256SUMS lists exactly the binary with its real digest, in the format `sha256sum -c` reads.
	sums, err := os.Open(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(data)
	var lines []string
	sc := bufio.NewScanner(sums)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	want := hex.EncodeToString(digest[:]) + "  " + name
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("SHA256SUMS: %q, want [%q]", lines, want)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		c := exec.Command("sha256sum", "-c", "SHA256SUMS")
		c.Dir = out
		if b, err := c.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, b)
		}
	}
}
