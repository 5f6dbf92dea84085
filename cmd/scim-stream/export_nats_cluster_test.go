package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/demo"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// TestExportNatsClusterOnStockServers: the exported cluster configuration, run by stock nats-server processes
// (a hub and a front per node, three nodes on loopback with ports of their own), serves SCIM Stream with
// use_external_server and 3 replicas, and a subscriber given the three fronts with the credentials creds issues;
// when one node's servers are killed, the subscriber goes on through another front.
func TestExportNatsClusterOnStockServers(t *testing.T) {
	path, cfg := bootstrapped(t, "-hr", "acme")
	// The command's own output (the shape a user gets).
	out, _ := mustCLI(t, "export-nats", "-config", path, "-out", filepath.Join(t.TempDir(), "cli"),
		"-nodes", "node-a.example.com,node-b.example.com,node-c.example.com")
	if !strings.Contains(out, "3-node cluster") {
		t.Fatalf("export-nats -nodes output:\n%s", out)
	}
	bin := stockNatsServer(t)
	certs, err := broker.EnsureCerts(config.CertsDir(path), cfg.Nats.Server.Certificate, broker.CertHosts(nil))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := natsauth.ClusterExportOptions{CertFile: "cert.pem", KeyFile: "key.pem", CAFile: "ca.pem"}
	var fronts, hubs []string
	for i := range 3 {
		var p [4]int
		for j := range p {
			if p[j], err = demo.FreePort(); err != nil {
				t.Fatal(err)
			}
		}
		n := natsauth.ClusterNode{Host: "127.0.0.1", Name: fmt.Sprintf("n%d", i), Dir: filepath.Join(dir, fmt.Sprint(i)),
			Ports: &natsauth.ClusterPorts{ClientPort: p[0], HubPort: p[1], RoutePort: p[2], LeafPort: p[3]}}
		o.Nodes = append(o.Nodes, n)
		fronts = append(fronts, fmt.Sprintf("tls://localhost:%d", p[0]))
		hubs = append(hubs, fmt.Sprintf("tls://localhost:%d", p[1]))
	}
	hubConfs, frontConfs, creds, err := natsauth.ClusterServerConfigs(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range o.Nodes {
		if err := os.MkdirAll(n.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for name, from := range map[string]string{"cert.pem": certs.CertFile, "key.pem": certs.KeyFile, "ca.pem": certs.CAFile} {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(n.Dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for name, text := range map[string]string{"hub.conf": hubConfs[i], "front.conf": frontConfs[i]} {
			if err := os.WriteFile(filepath.Join(n.Dir, name), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p, c := range creds {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	procs := map[string]*exec.Cmd{}
	logs := map[string]*syncBuffer{}
	defer func() {
		if t.Failed() {
			for name, l := range logs {
				t.Logf("---- %s ----\n%s", name, tail(l.String(), 25))
			}
		}
	}()
	start := func(name, conf string) {
		cmd := exec.Command(bin, "-c", conf)
		log := &syncBuffer{}
		logs[name] = log
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[name] = cmd
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		waitFor(t, name+" ready", 30*time.Second, func() bool { return strings.Contains(log.String(), "Server is ready") })
	}
	for i, n := range o.Nodes {
		start(fmt.Sprintf("hub%d", i), filepath.Join(n.Dir, "hub.conf"))
	}
	for i, n := range o.Nodes {
		start(fmt.Sprintf("front%d", i), filepath.Join(n.Dir, "front.conf"))
	}

	cfg.Nats.Server.UseExternalServer = true
	cfg.Nats.Server.Cluster = &config.Cluster{Name: "scim", Replicas: 3}
	for _, p := range cfg.Nats.Publisher {
		p.URLs = hubs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{StoreDir: filepath.Join(t.TempDir(), "unused"), CertsDir: config.CertsDir(path)})
	if err != nil {
		t.Fatalf("broker on the exported cluster: %v", err)
	}
	t.Cleanup(b.Shutdown)
	js, err := b.JetStream("acme", wire.HR)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "acme")
	if err != nil || s.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("stream on the exported cluster: %v", err)
	}
	u, err := natsauth.IssueSubscriber(cfg, "acme", wire.HR, "HR.SF", "ext", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(strings.Join(fronts, ","), nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(caFile(path)),
		nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.ConnectedServerName() != "SCIM-Stream" {
		t.Fatalf("front server_name %q", nc.ConnectedServerName())
	}
	publishTo(t, b, "acme", wire.HR, "HR.SF", "before")
	if got := pullOne(t, nc, "acme", "ext", "HR.SF"); got != "before" {
		t.Fatalf("pulled %q, want before", got)
	}
	// Node 0 (the subscriber's front, DontRandomize) dies.
	for _, name := range []string{"front0", "hub0"} {
		_ = procs[name].Process.Kill()
	}
	waitFor(t, "a publish after the kill", time.Minute, func() bool {
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m := nats.NewMsg("HR.SF")
		m.Header.Set(jetstream.MsgIDHeader, "after")
		m.Data = []byte("after")
		_, err := js.PublishMsg(pctx, m)
		return err == nil
	})
	sjs, _ := jetstream.New(nc)
	waitFor(t, "a pull through another front", time.Minute, func() bool {
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := sjs.Consumer(pctx, "acme", "ext")
		if err != nil {
			return false
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			_ = m.Ack()
			return string(m.Data()) == "after"
		}
		return false
	})
	if nc.ConnectedServerName() != "SCIM-Stream" || nc.ConnectedUrl() == fronts[0] {
		t.Fatalf("after the kill: server %q at %s", nc.ConnectedServerName(), nc.ConnectedUrl())
	}
}
