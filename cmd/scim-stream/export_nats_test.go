package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
)

// stockNatsServer builds the nats-server command of the module this repository depends on (the same source as the
// released binary) into a temporary directory.
func stockNatsServer(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building the stock nats-server needs the go command on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "nats-server")
	build := exec.Command(goCmd, "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	build.Dir = "../.." // the module root: its go.mod pins the nats-server version
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return bin
}

// TestExportNatsServesSameCreds starts a stock nats-server process with nothing but the exported nats-server.conf,
// and runs SCIM Stream against it with use_external_server.
func TestExportNatsServesSameCreds(t *testing.T) {
	path, cfg := bootstrapped(t, "-entra", "acme", "-hr", "acme")
	out := filepath.Join(t.TempDir(), "external")
	stdout, _ := mustCLI(t, "export-nats", "-config", path, "-out", out)
	if !strings.Contains(stdout, "nats-server.conf") {
		t.Fatalf("export output: %s", stdout)
	}
	srv := exec.Command(stockNatsServer(t), "-c", filepath.Join(out, "nats-server.conf"))
	var srvLog syncBuffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(srvLog.String(), "Server is ready"); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("nats-server -c nats-server.conf exited: %v\n%s", err, srvLog.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not become ready:\n%s", srvLog.String())
		}
	}

	// SCIM Stream on the external server: it creates the streams there.
	url := "nats://127.0.0.1:" + itoa(cfg.Nats.Server.Port)
	cfg.Nats.Server.UseExternalServer = true
	for _, p := range cfg.Nats.Publisher {
		p.URLs = []string{url}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{StoreDir: filepath.Join(t.TempDir(), "unused"), CertsDir: config.CertsDir(path)})
	if err != nil {
		t.Fatalf("broker on the external server: %v", err)
	}
	t.Cleanup(b.Shutdown)
	if b.Server() != nil {
		t.Fatal("an embedded server was started although use_external_server is true")
	}
	publishTo(t, b, "acme", "ENTRA", "ENTRA.APP1", "via-external")
	kv, err := b.StateKV(ctx, "acme", "ENTRA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	// Credentials issued by scim-stream creds work there as they do on the embedded server.
	out2, _ := mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "entra", "-plugin", "plugin-loki", "-format", "gateway-json")
	var block struct {
		Subscriber struct {
			Entity map[string]struct {
				Nats struct{ JWT, Secret string } `json:"nats"`
			} `json:"entity"`
		} `json:"subscriber"`
	}
	if err := json.Unmarshal([]byte(out2), &block); err != nil {
		t.Fatal(err)
	}
	e := block.Subscriber.Entity["undefined"].Nats
	closed := make(chan struct{})
	nc, err := nats.Connect(url, nats.UserJWTAndSeed(e.JWT, e.Secret), nats.RootCAs(caFile(path)), nats.MaxReconnects(0),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("subscriber on the external server: %v", err)
	}
	defer nc.Close()
	if nc.ConnectedServerName() != "SCIM-Stream" {
		t.Fatalf("external server_name %q", nc.ConnectedServerName())
	}
	if got := pullOne(t, nc, "acme", "durable_plugin-loki_undefined", "ENTRA.APP1"); got != "via-external" {
		t.Fatalf("pulled %q", got)
	}
	// Revocation reaches the external server through its system account.
	uc := userOf(t, e.JWT)
	cfgPath := path
	if err := config.Update(cfgPath,
		config.Change{Path: []string{"nats", "server", "use_external_server"}, Value: true},
		config.Change{Path: []string{"nats", "publisher", "acme", "urls"}, Value: []string{url}}); err != nil {
		t.Fatal(err)
	}
	_, errOut := mustCLI(t, "revoke", "-config", cfgPath, "-tenant", "acme", "-user", uc)
	if !strings.Contains(errOut, "applied") {
		t.Fatalf("revoke on the external server: %s", errOut)
	}
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("revoked user still connected to the external server")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func userOf(t *testing.T, tok string) string {
	t.Helper()
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return uc.Subject
}
