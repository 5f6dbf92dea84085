package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const unitFile = "systemd/scim-stream.service"

// unit is a systemd unit file: section -> key -> values in order (a key may repeat).
type unit map[string]map[string][]string

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// parseUnit reads the INI-style unit syntax: [Section], Key=Value, # and ; comments, \ continuations.
func parseUnit(path string) (unit, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	var pending string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += cont + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: bad section header %q", path, n, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("%s:%d: expected Key=Value inside a [Section]: %q", path, n, line)
		}
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(value))
	}
	return u, sc.Err()
}

func TestSystemdUnitIsSandboxed(t *testing.T) {
	u, err := parseUnit(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Errorf("%s: no [%s] section", unitFile, s)
		}
	}
	svc := func(k string) string { return u.get("Service", k) }
	if user := svc("User"); (user == "" || user == "root" || user == "0") && svc("DynamicUser") != "yes" {
		t.Errorf("%s: User=%q: the service needs a dedicated unprivileged user", unitFile, user)
	}
	for key, want := range map[string][]string{
		"NoNewPrivileges": {"yes", "true"},
		"ProtectSystem":   {"strict"},
		"ProtectHome":     {"yes", "true", "read-only", "tmpfs"},
		"PrivateTmp":      {"yes", "true"},
	} {
		if !slices.Contains(want, svc(key)) {
			t.Errorf("%s: %s=%q, want one of %v", unitFile, key, svc(key), want)
		}
	}
	if svc("CapabilityBoundingSet") != "" || len(u["Service"]["CapabilityBoundingSet"]) == 0 {
		t.Errorf("%s: CapabilityBoundingSet= (empty: no capabilities) missing", unitFile)
	}

	// ProtectSystem=strict leaves only the state directory (and ReadWritePaths) writable: the configuration's
	// directory (certificates, store, encrypted-in-place secrets) and the working directory must be in it.
	args := strings.Fields(svc("ExecStart"))
	writable := strings.Fields(svc("ReadWritePaths"))
	for _, d := range strings.Fields(svc("StateDirectory")) {
		writable = append(writable, "/var/lib/"+d)
	}
	cfg, i := flagValue(args, "config")
	if i < 0 {
		t.Fatalf("%s: ExecStart has no -config", unitFile)
	}
	for what, p := range map[string]string{"the configuration's directory": filepath.Dir(cfg), "WorkingDirectory": svc("WorkingDirectory")} {
		ok := false
		for _, w := range writable {
			if p == w || strings.HasPrefix(p, w+"/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s: %s %q is not writable under ProtectSystem=strict (StateDirectory/ReadWritePaths %v)", unitFile, what, p, writable)
		}
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit when this machine has it (the unit's ExecStart
// points at the built binary in a copy): unknown keys and bad values are errors.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze is not installed: the unit is checked by TestSystemdUnitIsSandboxed's parse only")
		return
	}
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	bin := strings.Fields(u.get("Service", "ExecStart"))[0]
	copyPath := filepath.Join(t.TempDir(), filepath.Base(unitFile))
	if err := os.WriteFile(copyPath, bytes.ReplaceAll(data, []byte(bin), []byte(binaryPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	// verify exits 0 on unknown keys and unparsable values: its messages about the file are the errors.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, filepath.Base(unitFile)) {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdUnitRunsTheBinary starts ExecStart as systemd would (WorkingDirectory, Environment=, the state
// directory a temporary one, -http on a free loopback port), calls /healthz and stops it with KillSignal.
func TestSystemdUnitRunsTheBinary(t *testing.T) {
	u, err := parseUnit(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	svc := func(k string) string { return u.get("Service", k) }
	args := strings.Fields(svc("ExecStart"))
	if args[0] != "/usr/local/bin/scim-stream" {
		t.Errorf("%s: ExecStart runs %s, the README installs /usr/local/bin/scim-stream", unitFile, args[0])
	}
	args = args[1:]
	acceptsFlags(t, args)
	if _, i := flagValue(args, "http"); i < 0 {
		t.Fatalf("%s: ExecStart has no -http: no /healthz", unitFile)
	}
	if ks := svc("KillSignal"); ks != "" && ks != "SIGTERM" {
		t.Errorf("%s: KillSignal=%s; the binary drains on SIGTERM", unitFile, ks)
	}

	state := "/var/lib/" + svc("StateDirectory")
	dir := t.TempDir()
	remap := func(s string) string { return remapMounts(s, map[string]string{state: dir}) }
	cfg, _ := flagValue(args, "config")
	seed := "systemd-test-seed"
	newInstallation(t, remap(cfg), seed)
	port := freePort(t)
	for i := range args {
		args[i] = remap(args[i])
	}
	args = setFlag(args, "http", "127.0.0.1:"+strconv.Itoa(port))

	// Environment= lines (the unit's own) plus SEED, which the README puts into the EnvironmentFile.
	env := []string{"SEED=" + seed}
	for _, e := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(e) {
			kv = strings.Trim(kv, `"`)
			name, _, _ := strings.Cut(kv, "=")
			checkEnvName(t, unitFile, name)
			env = append(env, kv)
		}
	}
	wd := remap(svc("WorkingDirectory"))
	before, _ := os.ReadDir(wd)
	p := start(t, wd, args, env)
	p.waitOK(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if !strings.Contains(p.out.String(), `msg="nats server listening"`) {
		t.Errorf("no log lines on stdout (the journal) with the unit's Environment=:\n%s", p.out.String())
	}
	p.stop(t)
	after, _ := os.ReadDir(wd)
	if len(after) != len(before) {
		t.Errorf("the binary created files in its WorkingDirectory beside the configuration: %v (before: %v)", after, before)
	}
}
