package deploy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
)

// repoRoot is the module's root, where the Dockerfile and scripts/ are.
const repoRoot = ".."

// binaryPath is the scim-stream binary TestMain builds with the Dockerfile's own build command.
var binaryPath string

// builtVersion is stamped into binaryPath through the Dockerfile's VERSION build argument.
const builtVersion = "v0.0.0-deploytest"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scim-stream-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binaryPath = filepath.Join(dir, "scim-stream")
	if err := buildWithDockerfile(binaryPath, builtVersion); err != nil {
		fmt.Fprintln(os.Stderr, "deploy: building the binary with the Dockerfile's build command:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a child process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// installation is a bootstrapped configuration of the documentation's SuccessFactors tenant, collected every
// 5 seconds from an imitation SuccessFactors on loopback, with the broker on a free loopback port.
type installation struct {
	seed     string
	cfgPath  string // <dir>/config/config.yaml
	natsPort int
}

// newInstallation writes and bootstraps the configuration at cfgPath with the built binary. env is added to the
// bootstrap's environment (SEED: the secrets are encrypted with it).
func newInstallation(t *testing.T, cfgPath, seed string) *installation {
	t.Helper()
	company := successfactors.NewSampleCompany(5, nil)
	api := successfactors.New(company)
	api.AddBasicUser("deploy-api", "deploy-api-password")
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "config", "hr-successfactors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	tenant := doc["hr"].(map[string]any)["mycompany"].(map[string]any)
	tenant["auth"] = map[string]any{
		"base_urls": []string{srv.URL},
		"basic":     map[string]any{"username": "deploy-api", "password": "deploy-api-password"},
	}
	general := tenant["general"].(map[string]any)
	general["collect_interval"] = 5
	general["do_initial_load"] = true
	in := &installation{seed: seed, cfgPath: cfgPath, natsPort: freePort(t)}
	doc["nats"] = map[string]any{"server": map[string]any{"port": in.natsPort}}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binaryPath, "bootstrap", "-config", cfgPath, "-hr", "mycompany")
	cmd.Env = append(cleanEnv(), "SEED="+seed)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, b)
	}
	return in
}

// cleanEnv is this process's environment without anything the binary reads, so that only what a manifest sets
// reaches it.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		up := strings.ToUpper(name)
		if up == "SEED" || strings.HasPrefix(up, "SCIM_STREAM_") || strings.HasPrefix(up, "SCIM-STREAM_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// process is the built binary running in a child process.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// start runs the built binary with args and env (added to a clean environment) in dir.
func start(t *testing.T, dir string, args, env []string) *process {
	t.Helper()
	p := &process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binaryPath, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM, as a container runtime or systemd does, and expects a clean exit 0.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("scim-stream %s after SIGTERM: %v\n%s", strings.Join(p.cmd.Args[1:], " "), p.err, p.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Errorf("scim-stream did not stop within 60 s of SIGTERM\n%s", p.out.String())
	}
}

// waitOK polls url until it answers 200. The deadline only bounds a hang: start-up takes about a second.
func (p *process) waitOK(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("scim-stream exited (%v) before %s answered 200:\n%s", p.err, url, p.out.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if resp.StatusCode == http.StatusNotFound {
				// Not a state that passes: the binary does not serve this path at all.
				t.Fatalf("%s: 404: the binary does not serve this path", url)
			}
			last = fmt.Sprintf("%s %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within 2 minutes (last: %s):\n%s", url, last, p.out.String())
}

// flagValue returns the value following flag in args (-flag value or -flag=value) and its index; -1 when absent.
func flagValue(args []string, flag string) (string, int) {
	for i, a := range args {
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if name == flag && i+1 < len(args) {
			return args[i+1], i + 1
		}
		if v, ok := strings.CutPrefix(name, flag+"="); ok {
			return v, i
		}
	}
	return "", -1
}

// setFlag replaces the value of flag in a copy of args (both spellings).
func setFlag(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	_, i := flagValue(out, flag)
	if i < 0 {
		return out
	}
	if strings.Contains(out[i], "=") && strings.HasPrefix(out[i], "-") {
		out[i] = "-" + flag + "=" + value
	} else {
		out[i] = value
	}
	return out
}

// portOf is the port of a listen address such as ":9013" or "127.0.0.1:9013".
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return n
}

// acceptsFlags runs the binary with args followed by -h: the flag package stops with exit 0 at -h only when every
// flag before it is defined (an unknown flag is exit 2), so this proves the sub-command and flags exist.
func acceptsFlags(t *testing.T, args []string) {
	t.Helper()
	cmd := exec.Command(binaryPath, append(append([]string(nil), args...), "-h")...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("scim-stream %s: %v: the binary does not accept these flags:\n%s", strings.Join(args, " "), err, out)
	}
}
