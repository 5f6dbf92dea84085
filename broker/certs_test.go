package broker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
)

func TestEnsureCertsGeneratesOnceAndReuses(t *testing.T) {
	dir := t.TempDir()
	hosts := broker.CertHosts([]string{"gw.example.com", "10.1.2.3"})
	c, err := broker.EnsureCerts(dir, config.Certificate{}, hosts)
	if err != nil || !c.Generated {
		t.Fatalf("first call: %+v %v", c, err)
	}
	raw, _ := os.ReadFile(c.CertFile)
	blk, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"localhost", "gw.example.com"} {
		if !slices.Contains(cert.DNSNames, h) {
			t.Errorf("certificate lacks DNS name %s: %v", h, cert.DNSNames)
		}
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.1.2.3"} {
		if !slices.Contains(ips, ip) {
			t.Errorf("certificate lacks IP %s: %v", ip, ips)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "gw.example.com"}); err != nil {
		t.Fatalf("certificate does not chain to the CA: %v", err)
	}
	if fi, _ := os.Stat(c.KeyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	again, err := broker.EnsureCerts(dir, config.Certificate{}, hosts)
	if err != nil || again.Generated || string(again.CAPEM) != string(c.CAPEM) {
		t.Fatalf("second call regenerated: %v", err)
	}
	// A certificate without its key is an error that names both files.
	os.Remove(c.KeyFile)
	if _, err := broker.EnsureCerts(dir, config.Certificate{}, hosts); err == nil || !strings.Contains(err.Error(), "key.pem") {
		t.Fatalf("missing key: %v", err)
	}
	// Operator-provided files with other names are used as they are.
	own := t.TempDir()
	gen, _ := broker.EnsureCerts(filepath.Join(own, "gen"), config.Certificate{}, hosts)
	for from, to := range map[string]string{gen.CertFile: "server.crt", gen.KeyFile: "server.key", gen.CAFile: "corp-ca.crt"} {
		b, _ := os.ReadFile(from)
		os.WriteFile(filepath.Join(own, to), b, 0o600)
	}
	got, err := broker.EnsureCerts(own, config.Certificate{CertFile: "server.crt", KeyFile: "server.key", CAFile: "corp-ca.crt"}, hosts)
	if err != nil || got.Generated || got.CertFile != filepath.Join(own, "server.crt") || string(got.CAPEM) != string(gen.CAPEM) {
		t.Fatalf("provided files: %+v %v", got, err)
	}
}

func TestMonitoringPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := brokertest.Config(t, "acme")
	cfg.Nats.Server.MonitorPort = port
	brokertest.StartWith(t, cfg, t.TempDir(), nil)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/varz", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		ServerName string `json:"server_name"`
		TLS        bool   `json:"tls_required"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.ServerName != "SCIM-Stream" || !v.TLS {
		t.Fatalf("varz: %+v %v", v, err)
	}
}

func TestPortInUseFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := brokertest.Config(t, "acme")
	dir := t.TempDir()
	start := time.Now()
	_, err = broker.Start(context.Background(), cfg, broker.Options{StoreDir: filepath.Join(dir, "js"), CertsDir: filepath.Join(dir, "certs"),
		Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port})
	if err == nil || !strings.Contains(err.Error(), "nats.server.port") {
		t.Fatalf("start on a used port: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("failing took %v", d)
	}
}

// TestCertsAddHosts: a host name added later (bootstrap -host, nats.server.hosts) gets into the server
// certificate, issued by the same CA so that subscribers keep their CA file; files the operator provided are left
// alone and the missing names reported.
func TestCertsAddHosts(t *testing.T) {
	dir := t.TempDir()
	first, err := broker.EnsureCerts(dir, config.Certificate{}, []string{"localhost", "gw1.example.com"})
	if err != nil || !first.Generated {
		t.Fatalf("first call: %+v %v", first, err)
	}
	got, err := broker.EnsureCerts(dir, config.Certificate{}, []string{"localhost", "gw1.example.com", "gw2.example.com", "10.9.8.7"})
	if err != nil || got.Generated || !slices.Equal(got.Reissued, []string{"gw2.example.com", "10.9.8.7"}) || len(got.Missing) != 0 {
		t.Fatalf("adding hosts: %+v %v", got, err)
	}
	if string(got.CAPEM) != string(first.CAPEM) {
		t.Fatal("the CA changed: every subscriber would need a new CA file")
	}
	raw, _ := os.ReadFile(got.CertFile)
	blk, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(first.CAPEM)
	for _, h := range []string{"localhost", "gw1.example.com", "gw2.example.com", "10.9.8.7"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: h}); err != nil {
			t.Errorf("re-issued certificate for %s: %v", h, err)
		}
	}
	if _, err := tls.LoadX509KeyPair(got.CertFile, got.KeyFile); err != nil {
		t.Fatalf("re-issued certificate and key do not match: %v", err)
	}
	if again, err := broker.EnsureCerts(dir, config.Certificate{}, []string{"gw2.example.com"}); err != nil || len(again.Reissued) != 0 {
		t.Fatalf("a covered host re-issued the certificate: %+v %v", again, err)
	}

	// Operator-provided files (no CA key here): nothing is rewritten, the missing name is reported.
	own := t.TempDir()
	for from, to := range map[string]string{got.CertFile: "server.crt", got.KeyFile: "server.key", got.CAFile: "corp-ca.crt"} {
		b, _ := os.ReadFile(from)
		if err := os.WriteFile(filepath.Join(own, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names := config.Certificate{CertFile: "server.crt", KeyFile: "server.key", CAFile: "corp-ca.crt"}
	p, err := broker.EnsureCerts(own, names, []string{"gw1.example.com", "gw3.example.com"})
	if err != nil || len(p.Reissued) != 0 || !slices.Equal(p.Missing, []string{"gw3.example.com"}) {
		t.Fatalf("provided files: %+v %v", p, err)
	}
	if b, _ := os.ReadFile(filepath.Join(own, "server.crt")); string(b) != string(raw) {
		t.Fatal("an operator-provided certificate was rewritten")
	}
}
