package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
)

// TestCheckTestdata runs `check` on every configuration in testdata/config: the documentation examples must pass
// once bootstrapped (as is, they have no NATS keys, which run refuses), every invalid variant must print exactly
// the lines of its .errors file and exit 1.
func TestCheckTestdata(t *testing.T) {
	dir, err := filepath.Abs("../../testdata/config")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata configs: %v %v", files, err)
	}
	t.Chdir(dir) // error lines name the file as given on the command line
	// The Node gateway's default plugin password is "password", and any secret loaded in this process is masked
	// in output: that must not garble key paths such as email.smtp.password in the error lines.
	config.RegisterSecret("password")
	valid := 0
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".errors")
			var stdout, stderr bytes.Buffer
			code := dispatch([]string{"check", "-config", name}, &stdout, &stderr)
			if os.IsNotExist(err) {
				valid++
				if code != 1 || !strings.Contains(stdout.String(), "no NATS operator") {
					t.Fatalf("check %s without bootstrap = %d, want 1 naming the missing operator; output:\n%s", name, code, stdout.String())
				}
				stdout.Reset()
				code = dispatch([]string{"check", "-config", bootstrappedCopy(t, f)}, &stdout, &stderr)
				if code != 0 || stdout.Len() != 0 {
					t.Fatalf("check %s = %d, want 0; output:\n%s%s", name, code, stdout.String(), stderr.String())
				}
				return
			}
			if code != 1 {
				t.Errorf("check %s = %d, want 1", name, code)
			}
			if got := stdout.String(); got != string(want) {
				t.Errorf("check %s printed:\n%s\nwant:\n%s", name, got, want)
			}
		})
	}
	if valid < 2 {
		t.Errorf("only %d valid examples checked, want the Entra and the SuccessFactors one", valid)
	}
}

func TestCheckMissingFile(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"check", "-config", filepath.Join(t.TempDir(), "none.yaml")}, &stdout, &stderr); code != 1 {
		t.Fatalf("check of a missing file = %d, want 1", code)
	}
	if !strings.Contains(stdout.String(), "none.yaml") {
		t.Errorf("error does not name the file: %q", stdout.String())
	}
}

func TestCheckStepsRun(t *testing.T) {
	saved := checkSteps
	defer func() { checkSteps = saved }()
	called := ""
	checkSteps = append(append([]func(string, *config.Config) []error{}, saved...), func(p string, c *config.Config) []error {
		called = p
		if c.Entra["mycompany"] == nil {
			t.Error("check step did not get the loaded configuration")
		}
		return []error{errors.New("mapper: bad expression")}
	})
	var stdout, stderr bytes.Buffer
	path := bootstrappedCopy(t, "../../testdata/config/entra-example.yaml")
	if code := dispatch([]string{"check", "-config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("check with a failing step = %d, want 1", code)
	}
	if called != path || stdout.String() != "mapper: bad expression\n" {
		t.Errorf("step called with %q, output %q", called, stdout.String())
	}
}

// TestRunCreatesConfig: a first start without configuration writes the defaults and asks for the bootstrap.
func TestRunCreatesConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "config.yaml")
	var stdout, stderr bytes.Buffer
	if code := runWith(context.Background(), path, "", &stdout, &stderr); code != 1 {
		t.Fatalf("run without config = %d, want 1", code)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("default configuration not created: %v", err)
	}
	if !strings.Contains(stderr.String(), "scim-stream bootstrap -entra <tenant> -hr <tenant>") {
		t.Errorf("no bootstrap hint: %q", stderr.String())
	}
	// Second start: the file exists but bootstrap has not run.
	stderr.Reset()
	if code := runWith(context.Background(), path, "", &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "bootstrap") {
		t.Fatalf("run before bootstrap = %d, %q", code, stderr.String())
	}
	if _, err := config.Check(path); err != nil {
		t.Errorf("the default configuration does not pass check: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunHotReload runs the main job on a bootstrapped configuration, edits the file and sees the reload
// applied, then an invalid edit reported, then stops on cancel.
func TestRunHotReload(t *testing.T) {
	okp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := okp.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(pub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../../testdata/config/entra-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(src), "log:\n    console: false", "log:\n    console: true", 1)
	body = strings.Replace(body, "nats:\n    server:\n        port: 9012\n",
		"nats:\n    server:\n        port: 9012\n        auth:\n            operator:\n                jwt: "+opJWT+"\n", 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEED", "run-test-seed")
	hookedCh := make(chan *runEnv, 1)
	savedHooks := runHooks
	defer func() { runHooks = savedHooks }()
	reloaded := make(chan *config.Config, 4)
	runHooks = []func(context.Context, *runEnv) error{func(ctx context.Context, env *runEnv) error {
		hookedCh <- env
		env.OnConfig(func(c *config.Config) { reloaded <- c })
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() { done <- runWith(ctx, path, "", &stdout, &stderr) }()
	deadline := time.Now().Add(5 * time.Second)
	var hooked *runEnv
	select {
	case hooked = <-hookedCh:
	case <-time.After(5 * time.Second):
		t.Fatalf("run did not start: stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "starting") || hooked.Config().Entra["mycompany"] == nil {
		t.Fatal("run hook not called with the configuration")
	}
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), "collect_interval: 5", "collect_interval: 60", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-reloaded:
		if got := c.Entra["mycompany"].General.CollectInterval.Seconds; got != 60 {
			t.Errorf("reloaded collect_interval = %d, want 60", got)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("no reload; log:\n%s", stdout.String())
	}
	data, _ = os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), "collect_interval: 60", "collect_interval: 2", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(stdout.String(), "configuration change not applied") {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("invalid edit not logged; log:\n%s", stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := hooked.Config().Entra["mycompany"].General.CollectInterval.Seconds; got != 60 {
		t.Errorf("after an invalid edit the snapshot has collect_interval %d, want the previous 60", got)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exit code %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
	for _, secret := range []string{"Qx8~kP3vN.rT5wZ-yL2mB7cF9hJ4sD6gA1eU0iO", "password: xxx"} {
		if strings.Contains(stdout.String(), secret) {
			t.Errorf("log shows a secret %q", secret)
		}
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("version = %d: %s", code, stderr.String())
	}
	if got := stdout.String(); got != "scim-stream "+buildVersion()+"\n" || buildVersion() == "" {
		t.Errorf("version printed %q", got)
	}
	saved := version
	defer func() { version = saved }()
	version = "v1.2.3" // as set by -ldflags "-X main.version=v1.2.3"
	stdout.Reset()
	dispatch([]string{"version"}, &stdout, &stderr)
	if stdout.String() != "scim-stream v1.2.3\n" {
		t.Errorf("version with -X main.version: %q", stdout.String())
	}
}

// bootstrappedCopy copies a configuration into a temporary config directory and bootstraps it (NATS operator and
// accounts for its tenants), as an operator does before the first run.
func bootstrappedCopy(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "config", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := dispatch([]string{"bootstrap", "-config", dst}, &out, &out); code != 0 {
		t.Fatalf("bootstrap %s: %s", src, out.String())
	}
	// The SAML key pair the SuccessFactors example names, which its operator puts in the certs directory.
	c, err := config.Check(dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range c.HR {
		if s := tc.Auth.OAuthSAMLAssertion; s != nil {
			kp, err := successfactors.GenerateKeyPair("scim-stream test")
			if err != nil {
				t.Fatal(err)
			}
			for name, pem := range map[string][]byte{s.KeyFile: kp.KeyPEM, s.CertFile: kp.CertPEM} {
				if name == "" {
					continue
				}
				p := filepath.Join(config.CertsDir(dst), name)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, pem, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return dst
}
