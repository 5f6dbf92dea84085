package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// leakConfig has a known secret under every secret key of the reference.
func leakConfig(t *testing.T) (body string, secrets []string) {
	op, sys := seed(t, nkeys.CreateOperator), seed(t, nkeys.CreateAccount)
	acct, sign, user := seed(t, nkeys.CreateAccount), seed(t, nkeys.CreateAccount), seed(t, nkeys.CreateUser)
	secrets = []string{"leak-client-secret-1", "leak-basic-password", "leak-bearer-token", "leak-smtp-password",
		"leak-proxy-password", "leak-at-rest-key", op, sys, acct, sign, user}
	body = fmt.Sprintf(`entra:
  mycompany:
    auth:
      oauth:
        clients:
          - client_id: app
            client_secret: %s
    general:
      entra:
        tenant_id: t.onmicrosoft.com
    streams:
      - channel: APP1
        rules:
          - filter: (.*)
hr:
  mycompany:
    auth:
      base_urls: [https://hr.example.com]
      basic: {username: api, password: %s}
      bearer_token: {token: %s}
    general:
      collect_interval: 0 2 * * *
      hr: {collect_query_string: /users}
    streams:
      - channel: ALL
        rules: [{filter: (.*)}]
    mapper:
      user:
        - id: {map_to: userName}
        - start: {map_to: startDate}
        - end: {map_to: endDate}
email:
  smtp: {host: smtp.example.com, port: 587, password: %s, proxy: "http://proxy:8080", proxy_username: p, proxy_password: %s}
nats:
  server:
    encryption_at_rest_key: %s
    auth:
      operator: {secret: %s, sys_account_secret: %s}
      account:
        mycompany:
          entra: {secret: %s, signing: {pub_secret: %s, sub_entra_secret: %s}}
  publisher:
    mycompany: {secret: %s}
`, secrets[0], secrets[1], secrets[2], secrets[3], secrets[4], secrets[5], op, sys, acct, sign, sign, user)
	return body, secrets
}

func assertNoSecret(t *testing.T, what, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s shows secret %q:\n%s", what, s, out)
		}
	}
}

// TestNoSecretInLogsOrErrors loads configurations with known secrets and scans everything that could print them.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	t.Setenv("SEED", "leak-seed")
	body, secrets := leakConfig(t)
	t.Setenv("SCIM_STREAM_HR_MYCOMPANY_AUTH_BASIC_PASSWORD", "leak-env-password")
	secrets = append(secrets, "leak-env-password")
	path := writeConfig(t, body)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Secrets()); n != 12 {
		t.Errorf("Secrets() found %d values, want 12", n)
	}
	if c.HR["mycompany"].Auth.Basic.Password.Reveal() != "leak-env-password" {
		t.Fatal("environment secret not applied")
	}
	assertNoSecret(t, "the encrypted file", readFile(t, path), secrets)

	var buf bytes.Buffer
	log := NewWriterLogger(&buf, "debug")
	log.Info("loaded", "config", c, "hr", c.HR["mycompany"], "secret", c.Nats.Publisher["mycompany"].Secret)
	log.Debug(fmt.Sprintf("fmt: %v | %+v | %#v | %s", c, *c.HR["mycompany"], c.Email, c.Email.SMTP.Password))
	log.Error("upstream failed", "error", fmt.Errorf("POST https://hr.example.com/token?pw=%s: 401", secrets[1]))
	log.Error("token " + secrets[2] + " rejected")
	log.With("client_secret", secrets[0]).WithGroup("g").Info("grouped", slog.Group("inner", "v", secrets[5]), "bytes", []byte(secrets[3]))
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("json", "dump", string(js))
	out := buf.String()
	assertNoSecret(t, "the log", out, secrets)
	assertNoSecret(t, "a JSON dump", string(js), secrets)
	if strings.Count(out, "\n") != 6 || !strings.Contains(out, "***") {
		t.Errorf("log lines missing or not masked:\n%s", out)
	}

	// Invalid configurations: type errors, wrong kinds, wrong seed; the errors must not echo the secrets.
	bad := strings.NewReplacer(
		"sys_account_secret: "+secrets[7], "sys_account_secret: "+secrets[10], // a user seed where an account seed belongs
		"token: leak-bearer-token}", "token: [leak-bearer-token]}",
		"proxy_password: leak-proxy-password", "proxy_password: {x: leak-proxy-password}",
	).Replace(body)
	badPath := writeConfig(t, bad)
	_, err = Load(badPath)
	if err == nil {
		t.Fatal("invalid configuration loaded")
	}
	assertNoSecret(t, "the errors", err.Error(), secrets)
	log.Error("invalid", "error", err)
	t.Setenv("SEED", "other-seed")
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), "SEED") {
		t.Fatalf("wrong seed: %v", err)
	}
	assertNoSecret(t, "the wrong-seed errors", err.Error(), secrets)
	assertNoSecret(t, "the log", buf.String(), secrets)
}

func TestSecretFormatting(t *testing.T) {
	s := Secret("hunter2-clear")
	for _, got := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %#v %+v", s, s, s, s, s),
		fmt.Sprintf("%v", struct{ P Secret }{s}), fmt.Sprintf("%+v", OAuthClient{"id", s})} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("formatted secret shows the clear text: %s", got)
		}
	}
	if s.Reveal() != "hunter2-clear" || string(s) != "hunter2-clear" {
		t.Error("Reveal")
	}
	if Secret("").String() != "" {
		t.Error("an empty secret should print empty, so that 'not set' stays visible")
	}
	for key, want := range map[string]bool{"secret": true, "client_secret": true, "password": true, "token": true,
		"proxy_password": true, "encryption_at_rest_key": true, "sub_entra_secret": true, "jwt": false, "username": false} {
		if IsSecretKey(key) != want {
			t.Errorf("IsSecretKey(%q) = %v", key, !want)
		}
	}
}

func TestNewLoggerFileAndLevels(t *testing.T) {
	dir := t.TempDir()
	RegisterSecret("file-logger-secret")
	log, closer, err := NewLogger(Log{Level: "error", MaxSize: 1, MaxBackups: 2}, dir)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("not written at level error")
	log.Error("written", "error", errors.New("file-logger-secret was refused"))
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "logs", LogFileName))
	if err != nil {
		t.Fatal(err)
	}
	out := string(data)
	if strings.Contains(out, "not written") || !strings.Contains(out, "written") || !strings.Contains(out, "*** was refused") {
		t.Errorf("log file:\n%s", out)
	}
	assertNoSecret(t, "the log file", out, []string{"file-logger-secret"})
	off, c2, err := NewLogger(Log{Level: "disabled"}, dir)
	if err != nil || off.Enabled(t.Context(), slog.LevelError) {
		t.Errorf("disabled logger enabled: %v", err)
	}
	c2.Close()
}

// TestMaskedLines: a weak secret that equals a key name ("cafile" here, "password" in the Node gateway's default
// plugin) is masked in messages but leaves file names and key paths readable.
func TestMaskedLines(t *testing.T) {
	RegisterSecret("cafile")
	l := ErrorList{
		{File: "config.yaml", Line: 3, Path: "nats.server.certificate.cafile", Msg: "the value cafile is wrong"},
		{File: "config.yaml", Path: "log.level", Msg: "fine"},
	}
	got := MaskedLines(fmt.Errorf("wrapped: %w", l))
	want := []string{"config.yaml:3: nats.server.certificate.cafile: the value *** is wrong", "config.yaml: log.level: fine"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("MaskedLines(ErrorList) = %q, want %q", got, want)
	}
	if got := MaskedLines(fmt.Errorf("one: %w", l[0])); len(got) != 1 || got[0] != want[0] {
		t.Errorf("MaskedLines(*Error) = %q", got)
	}
	if got := MaskedLines(errors.New("open cafile.pem: cafile")); len(got) != 1 || got[0] != "open ***.pem: ***" {
		t.Errorf("MaskedLines(other) = %q", got)
	}
	if MaskedLines(nil) != nil {
		t.Error("MaskedLines(nil) is not empty")
	}
}
