package deploy

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/config"
)

// No Docker daemon is needed: the Dockerfile is parsed, its build command is run on this machine (TestMain builds
// the binary every deploy test uses with it), and its runtime stage's CMD, ENV, USER, VOLUME and EXPOSE are
// checked against that binary.

type instruction struct {
	cmd  string // upper-case: FROM, RUN, …
	args string
	line int
}

type stage struct {
	base, name string
	ins        []instruction
}

var dockerInstructions = map[string]bool{"FROM": true, "RUN": true, "CMD": true, "LABEL": true, "EXPOSE": true,
	"ENV": true, "ADD": true, "COPY": true, "ENTRYPOINT": true, "VOLUME": true, "USER": true, "WORKDIR": true,
	"ARG": true, "ONBUILD": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true}

// parseDockerfile splits a Dockerfile into stages of instructions (comments dropped, continuations joined).
func parseDockerfile(path string) ([]stage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var stages []stage
	var cur strings.Builder
	startLine := 0
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			startLine = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		text := cur.String()
		cur.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		cmd = strings.ToUpper(cmd)
		if !dockerInstructions[cmd] {
			return nil, fmt.Errorf("%s:%d: unknown instruction %q", path, startLine, cmd)
		}
		in := instruction{cmd: cmd, args: strings.TrimSpace(args), line: startLine}
		if cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				return nil, fmt.Errorf("%s:%d: FROM %s: expected IMAGE [AS NAME]", path, startLine, in.args)
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("%s:%d: %s before the first FROM", path, startLine, cmd)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("%s: ends inside a continued line", path)
	}
	return stages, nil
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm is the JSON array of CMD, ENTRYPOINT or VOLUME.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(in.args), &out); err != nil {
		t.Fatalf("Dockerfile:%d: %s %s: not the exec (JSON array) form: %v", in.line, in.cmd, in.args, err)
	}
	return out
}

var goBuildOut = regexp.MustCompile(`-o\s+(\S+)`)

// dockerBuild is the build stage's `go build` RUN line, the binary path it writes and its ARG defaults.
func dockerBuild(stages []stage) (run instruction, out string, args map[string]string, err error) {
	for _, st := range stages {
		for _, in := range st.all("RUN") {
			if !strings.Contains(in.args, "go build") {
				continue
			}
			m := goBuildOut.FindStringSubmatch(in.args)
			if m == nil {
				return in, "", nil, fmt.Errorf("Dockerfile:%d: go build without -o", in.line)
			}
			args = map[string]string{}
			for _, a := range st.all("ARG") {
				name, def, _ := strings.Cut(a.args, "=")
				args[name] = def
			}
			return in, m[1], args, nil
		}
	}
	return instruction{}, "", nil, fmt.Errorf("Dockerfile: no RUN with go build")
}

// buildWithDockerfile runs the Dockerfile's own build command in the repository (the build stage copies it to its
// WORKDIR), writing the binary to out, with the VERSION build argument set to version.
func buildWithDockerfile(out, version string) error {
	stages, err := parseDockerfile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		return err
	}
	run, _, args, err := dockerBuild(stages)
	if err != nil {
		return err
	}
	script := goBuildOut.ReplaceAllString(run.args, "-o "+strconv.Quote(out))
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = repoRoot
	cmd.Env = os.Environ()
	for name, def := range args {
		cmd.Env = append(cmd.Env, name+"="+def) // ARGs are in RUN's environment
	}
	cmd.Env = append(cmd.Env, "VERSION="+version)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("Dockerfile:%d: %s: %v\n%s", run.line, script, err, b)
	}
	return nil
}

func TestDockerfileBuildsAStaticStampedBinary(t *testing.T) {
	stages, err := parseDockerfile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	run, _, args, err := dockerBuild(stages)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(run.args, "CGO_ENABLED=0") {
		t.Errorf("Dockerfile:%d: the build does not set CGO_ENABLED=0 (a static binary for a base without libc)", run.line)
	}
	if _, ok := args["VERSION"]; !ok || !strings.Contains(run.args, "-X main.version=${VERSION}") {
		t.Errorf("Dockerfile:%d: the version is not stamped from ARG VERSION with -X main.version=${VERSION}", run.line)
	}
	// The package built is the command's main package.
	pkg := strings.Fields(run.args)[len(strings.Fields(run.args))-1]
	list := exec.Command("go", "list", "-f", "{{.Name}} {{.ImportPath}}", pkg)
	list.Dir = repoRoot
	b, err := list.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(b), "main ") || !strings.HasSuffix(strings.TrimSpace(string(b)), "/cmd/scim-stream") {
		t.Errorf("Dockerfile:%d: builds %s, which is not the scim-stream main package: %s %v", run.line, pkg, b, err)
	}

	// What TestMain built with that command: static, and `version` prints the stamped version.
	f, err := elf.Open(binaryPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v: not static", libs)
	}
	out, err := exec.Command(binaryPath, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "scim-stream "+builtVersion {
		t.Errorf("version: %q %v, want %q", out, err, "scim-stream "+builtVersion)
	}
}

func TestDockerfileRuntimeStageRunsTheBinary(t *testing.T) {
	stages, err := parseDockerfile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: %d stage(s), want a build stage and a runtime stage", len(stages))
	}
	_, builtAt, _, err := dockerBuild(stages)
	if err != nil {
		t.Fatal(err)
	}
	rt := stages[len(stages)-1]
	names := map[string]bool{}
	for _, st := range stages[:len(stages)-1] {
		names[st.name] = true
	}

	// The binary copied from the build stage is the ENTRYPOINT.
	binaryIn := ""
	for _, in := range rt.all("COPY") {
		f := strings.Fields(in.args)
		if from, ok := strings.CutPrefix(f[0], "--from="); ok {
			if !names[from] {
				t.Errorf("Dockerfile:%d: COPY --from=%s names no earlier stage", in.line, from)
			}
			src := f[len(f)-2]
			if src == builtAt {
				binaryIn = f[len(f)-1]
			}
		}
	}
	eps := rt.all("ENTRYPOINT")
	cmds := rt.all("CMD")
	if len(eps) != 1 || len(cmds) != 1 {
		t.Fatalf("Dockerfile: the runtime stage needs one ENTRYPOINT and one CMD, has %d and %d", len(eps), len(cmds))
	}
	entry, cmd := execForm(t, eps[0]), execForm(t, cmds[0])
	if binaryIn == "" || len(entry) != 1 || entry[0] != binaryIn {
		t.Errorf("Dockerfile: ENTRYPOINT %v is not the binary copied from %s (copied to %q)", entry, builtAt, binaryIn)
	}

	// Non-root user.
	users := rt.all("USER")
	if len(users) == 0 {
		t.Fatalf("Dockerfile: the runtime stage has no USER: it would run as root")
	}
	user, _, _ := strings.Cut(users[len(users)-1].args, ":")
	if user == "root" || user == "0" {
		t.Errorf("Dockerfile:%d: USER %s is root", users[len(users)-1].line, user)
	}

	// The configuration lives on the /config volume.
	var volumes []string
	for _, in := range rt.all("VOLUME") {
		volumes = append(volumes, execForm(t, in)...)
	}
	if !slices.Contains(volumes, "/config") {
		t.Errorf("Dockerfile: VOLUME %v does not include /config", volumes)
	}
	cfg, i := flagValue(cmd, "config")
	if i < 0 || filepath.Dir(cfg) != "/config" {
		t.Errorf("Dockerfile: CMD %v does not read its configuration from the /config volume (-config /config/config.yaml)", cmd)
	}

	// EXPOSE: the NATS client port (the configuration's default) and the -http port of CMD.
	httpAddr, i := flagValue(cmd, "http")
	if i < 0 {
		t.Fatalf("Dockerfile: CMD %v has no -http (health and metrics)", cmd)
	}
	var exposed []int
	for _, in := range rt.all("EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
			if err != nil {
				t.Errorf("Dockerfile:%d: EXPOSE %s: %v", in.line, p, err)
			}
			exposed = append(exposed, n)
		}
	}
	for _, want := range []int{config.DefaultNatsPort, portOf(t, httpAddr)} {
		if !slices.Contains(exposed, want) {
			t.Errorf("Dockerfile: EXPOSE %v lacks %d", exposed, want)
		}
	}
	acceptsFlags(t, cmd)

	// Run CMD with the image's ENV: /config is a temporary directory, the ports free loopback ports. The image's
	// WORKDIR must stay empty (the root file system is the image's): logs go to stdout.
	var env []string
	for _, in := range rt.all("ENV") {
		name, value, ok := strings.Cut(in.args, "=")
		if !ok {
			t.Fatalf("Dockerfile:%d: ENV %s: use the NAME=value form", in.line, in.args)
		}
		checkEnvName(t, "Dockerfile", name)
		env = append(env, name+"="+value)
	}
	root := t.TempDir()
	workdir := filepath.Join(root, "workdir")
	if err := os.Mkdir(workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(root, "config")
	seed := "dockerfile-test-seed"
	newInstallation(t, filepath.Join(vol, filepath.Base(cfg)), seed)
	port := freePort(t)
	args := setFlag(setFlag(cmd, "config", filepath.Join(vol, filepath.Base(cfg))), "http", "127.0.0.1:"+strconv.Itoa(port))
	p := start(t, workdir, args, append(env, "SEED="+seed))
	p.waitOK(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if !strings.Contains(p.out.String(), `msg="nats server listening"`) {
		t.Errorf("no log lines on stdout with the image's ENV:\n%s", p.out.String())
	}
	p.stop(t)
	if entries, _ := os.ReadDir(workdir); len(entries) > 0 {
		t.Errorf("the binary wrote into its working directory (the image's read-only root): %v", entries)
	}
}

// checkEnvName fails unless the binary reads the variable: SEED, a configuration override (its value is then
// validated by starting the binary with it) or the Go runtime's.
func checkEnvName(t *testing.T, where, name string) {
	t.Helper()
	up := strings.ToUpper(name)
	switch {
	case name == "SEED", slices.Contains([]string{"GOMEMLIMIT", "GOGC", "GOMAXPROCS", "GODEBUG"}, name):
	case strings.HasPrefix(up, "SCIM_STREAM_") || strings.HasPrefix(up, "SCIM-STREAM_"):
	default:
		t.Errorf("%s: environment variable %s is not read by scim-stream (SEED, SCIM_STREAM_<KEY>, GOMEMLIMIT)", where, name)
	}
}
