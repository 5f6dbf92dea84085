package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/demo"
	"github.com/scim-stream/scim-stream/wire"
)

// buildBinary builds this command into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building scim-stream needs the go command on PATH: %v", err)
	}
	bin := filepath.Join(dir, "scim-stream")
	build := exec.Command(goCmd, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a started scim-stream process.
type proc struct {
	cmd      *exec.Cmd
	out, err *syncBuffer
	exited   chan error
}

func startProc(t *testing.T, bin, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &syncBuffer{}, err: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// exitCode waits for the process to end and returns its exit code (-1 for a signal death).
func (p *proc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("process did not exit within %s\nstdout: %s\nstderr: %s", within, p.out.String(), p.err.String())
		return 0
	}
}

func (p *proc) alive() bool {
	select {
	case err := <-p.exited:
		p.exited <- err
		return false
	default:
		return true
	}
}

// jsonLines decodes a JSON log; every line must be one object.
func jsonLines(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON (log.format json): %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// logged returns the value of key in the first JSON log line whose msg is msg ("" when none).
func logged(t *testing.T, text, msg, key string) string {
	for _, l := range jsonLines(t, text) {
		if l["msg"] == msg {
			return fmt.Sprint(l[key])
		}
	}
	return ""
}

func readFileString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestRunProcessSignals builds the binary and runs `scim-stream run` as a process with a JSON log file: a second
// process on the same ports fails at start-up and says why on stderr with the log file's path; SIGHUP keeps the
// process running, reopens the log file (a file renamed away by logrotate is left alone, a new one is started)
// and reloads the configuration; SIGTERM stops it cleanly with exit status 0.
func TestRunProcessSignals(t *testing.T) {
	bin := buildBinary(t, t.TempDir())
	f := newHRFixture(t, 4, "")
	if err := config.Update(f.cfgPath, config.Change{Path: []string{"log", "console"}, Value: false},
		config.Change{Path: []string{"log", "format"}, Value: "json"}, config.Change{Path: []string{"log", "level"}, Value: "info"}); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(f.dir, "logs", config.LogFileName)
	p := startProc(t, bin, f.dir, "run", "-config", f.cfgPath, "-http", "127.0.0.1:0")
	var addr string
	waitFor(t, "the health listener in the log", 60*time.Second, func() bool {
		if !p.alive() {
			t.Fatalf("run exited:\n%s\n%s\n%s", p.out.String(), p.err.String(), readFileString(logFile))
		}
		addr = logged(t, readFileString(logFile), "metrics and health endpoint listening", "addr")
		return addr != ""
	})
	base := "http://" + addr
	waitFor(t, "ready", 60*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })
	if p.out.String() != "" {
		t.Errorf("with a log file, stdout has %q", p.out.String())
	}

	// A second instance cannot bind the NATS port: exit 1, the cause and the log file on stderr.
	second := startProc(t, bin, f.dir, "run", "-config", f.cfgPath)
	if code := second.exitCode(t, 60*time.Second); code != 1 {
		t.Errorf("second instance exit %d, want 1", code)
	}
	if e := second.err.String(); !strings.Contains(e, "start-up failed") || !strings.Contains(e, logFile) ||
		!strings.Contains(e, "nats.server.port") {
		t.Errorf("second instance's stderr lacks the cause or the log file %s:\n%s", logFile, e)
	}

	// logrotate: rename, then SIGHUP.
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new log file after SIGHUP", 20*time.Second, func() bool {
		return strings.Contains(readFileString(logFile), "SIGHUP: log file reopened")
	})
	if !p.alive() {
		t.Fatalf("SIGHUP ended the process: %s", p.err.String())
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after SIGHUP %d: %s", code, body)
	}
	// The reload reads the file: an edit is applied (seen in the log of the new file).
	if err := config.Update(f.cfgPath, config.Change{Path: []string{"hr", demo.Tenant, "general", "collect_interval"}, Value: 3600}); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload after SIGHUP", 20*time.Second, func() bool {
		return strings.Contains(readFileString(logFile), "configuration reloaded")
	})

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 60*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d, want 0\n%s", code, p.err.String())
	}
	if logged(t, readFileString(logFile), "stopped", "level") != "INFO" {
		t.Errorf("no clean stop in the log:\n%s", readFileString(logFile))
	}
}

// TestGatewayProcessSignals runs `scim-stream gateway` as a process with JSON logs: SIGHUP with an invalid file
// keeps it running on the previous configuration, SIGHUP with a valid one restarts it with that; SIGTERM stops it
// with exit status 0.
func TestGatewayProcessSignals(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	t.Setenv("SEED", "cmd-gateway-signals-test")
	env := brokertest.Start(t, "acme")
	jwt, seed := env.SubscriberCreds(t, "acme", wire.HR, "")
	cfgPath := filepath.Join(dir, "gateway.yaml")
	gw := func(name string) string {
		return fmt.Sprintf("name: %s\nscimgateway:\n  port: 0\n  stream:\n    baseUrls: [%s]\n    certificate: {ca: %s}\n    subscriber:\n      enabled: true\n      entity:\n        undefined:\n          nats: {tenant: acme, subject: HR.SF, jwt: %s, secret: %s}\n",
			name, env.URL(), env.CAFile(), jwt, seed)
	}
	if err := os.WriteFile(cfgPath, []byte(gw("first")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, bin, dir, "gateway", "-config", cfgPath, "-http", "127.0.0.1:0", "-log-format", "json")
	var addr string
	waitFor(t, "the health listener", 30*time.Second, func() bool {
		if !p.alive() {
			t.Fatalf("gateway exited:\n%s\n%s", p.out.String(), p.err.String())
		}
		addr = logged(t, p.out.String(), "gateway: metrics and health endpoint listening", "addr")
		return addr != ""
	})
	base := "http://" + addr
	waitFor(t, "ready", 30*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })

	if err := os.WriteFile(cfgPath, []byte("scimgateway: [not, a, map]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalid reload logged", 20*time.Second, func() bool {
		return strings.Contains(p.out.String(), "SIGHUP: configuration not reloaded")
	})
	if code, _ := httpGet(t, base+"/readyz"); code != 200 || !p.alive() {
		t.Errorf("after an invalid reload: alive %v, /readyz %d", p.alive(), code)
	}

	if err := os.WriteFile(cfgPath, []byte(gw("second")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second configuration's consumer", 30*time.Second, func() bool {
		for _, l := range jsonLines(t, p.out.String()) {
			if l["msg"] == "gateway: consumer created" && l["durable"] == wire.DurableName("second", "undefined") {
				return true
			}
		}
		return false
	})
	waitFor(t, "ready after the reload", 30*time.Second, func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d, want 0\n%s", code, p.err.String())
	}
	if logged(t, p.out.String(), "gateway stopped", "level") != "INFO" {
		t.Errorf("no clean stop logged:\n%s", p.out.String())
	}
}
