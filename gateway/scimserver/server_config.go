package scimserver

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway"
)

// ServerConfig is the part of `scimgateway` the SCIM HTTP server reads (the Node gateway's keys, plus
// trustedProxies and maxBodyBytes). The listener port is Config.Scimgateway.Port.
type ServerConfig struct {
	Auth        Auth              `yaml:"auth"`
	Certificate ServerCertificate `yaml:"certificate"`
	// IPAllowList are CIDRs (a.b.c.d/32 for one host) allowed to connect; empty allows all.
	IPAllowList []string `yaml:"ipAllowList"`
	// TrustedProxies are CIDRs of reverse proxies / load balancers whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trustedProxies"`
	// MaxBodyBytes limits request bodies; default 1 MiB.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// LocalhostOnly listens on the loopback interface only (the Node gateway's localhostonly).
	LocalhostOnly bool `yaml:"localhostonly"`
	// MaxInFlight bounds the requests in work at once; beyond it 429 with Retry-After. Default 64; -1 no bound.
	MaxInFlight int `yaml:"maxInFlight"`
}

// ListenAddr is the address the SCIM server listens on for port: every interface, or loopback only.
func (sc ServerConfig) ListenAddr(port int) string {
	host := ""
	if sc.LocalhostOnly {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// ServerCertificate is `scimgateway.certificate`: PEM files, absolute or relative to <config dir>/certs.
// Set key and cert (or leave them null for plain HTTP); ca (one file or a list) is sent along as the chain.
type ServerCertificate struct {
	Key  string     `yaml:"key"`
	Cert string     `yaml:"cert"`
	CA   stringList `yaml:"ca"`
	// PFX is the Node gateway's PKCS#12 alternative; it is refused rather than ignored, so that a configuration
	// meant for TLS never serves plain HTTP.
	PFX struct {
		Bundle string `yaml:"bundle"`
	} `yaml:"pfx"`
}

// stringList accepts one string or a list of them ("ca": "ca.pem" and "ca": ["a.pem", "b.pem"]).
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!null" && n.Value != "" {
			*s = []string{n.Value}
		}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: want a file name or a list of file names", n.Line)
}

// DefaultPublisherTimeout is how long a publisher waits for a responder's reply.
const DefaultPublisherTimeout = 30 * time.Second

// LoadServerConfig reads and checks the server's keys of a gateway configuration. A listening server (port
// > 0) must have at least one credential.
func LoadServerConfig(c *gateway.Config) (ServerConfig, error) {
	var sc ServerConfig
	if err := c.Decode("scimgateway", &sc); err != nil {
		return sc, err
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("gateway config %s: scimgateway.%s: %s", c.Path, key, fmt.Sprintf(format, args...)))
	}
	// Node configs disable a method with null entries; drop them.
	var basic []BasicAuth
	for i, b := range sc.Auth.Basic {
		switch {
		case b.Username == "" && b.Password == "":
		case b.Username == "" || b.Password == "":
			bad(fmt.Sprintf("auth.basic[%d]", i), "needs both username and password")
		default:
			basic = append(basic, b)
		}
	}
	sc.Auth.Basic = basic
	var bearer []BearerToken
	for _, b := range sc.Auth.BearerToken {
		if b.Token != "" {
			bearer = append(bearer, b)
		}
	}
	sc.Auth.BearerToken = bearer
	if c.Scimgateway.Port > 0 && !sc.Auth.configured() {
		bad("auth", "a SCIM server on port %d needs at least one auth.basic user or auth.bearerToken", c.Scimgateway.Port)
	}
	for i, s := range sc.IPAllowList {
		if _, err := parsePrefix(s); err != nil {
			bad(fmt.Sprintf("ipAllowList[%d]", i), "%q is not a CIDR (e.g. 13.64.151.161/32 or 2603:1056:2000::/48)", s)
		}
	}
	for i, s := range sc.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			bad(fmt.Sprintf("trustedProxies[%d]", i), "%q is not a CIDR (e.g. 10.0.0.0/8)", s)
		}
	}
	if (sc.Certificate.Key == "") != (sc.Certificate.Cert == "") {
		bad("certificate", "set both key and cert for TLS, or neither for plain HTTP")
	}
	if sc.Certificate.PFX.Bundle != "" {
		bad("certificate.pfx", "PKCS#12 bundles are not supported: convert %s to PEM files (openssl pkcs12 -in %[1]s -nocerts -nodes -out key.pem; openssl pkcs12 -in %[1]s -clcerts -nokeys -out cert.pem) and set certificate.key and certificate.cert", sc.Certificate.PFX.Bundle)
	}
	if sc.MaxBodyBytes < 0 {
		bad("maxBodyBytes", "must be positive")
	}
	return sc, errors.Join(errs...)
}

// parsePrefix reads a CIDR; a bare address is a single host.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Options turns the configuration into ServerOptions (the endpoint and entities are the caller's).
func (sc ServerConfig) Options(tenant string, log *slog.Logger) ServerOptions {
	o := ServerOptions{Auth: sc.Auth, MaxBodyBytes: sc.MaxBodyBytes, Tenant: tenant, Log: log, MaxInFlight: sc.MaxInFlight}
	for _, s := range sc.IPAllowList {
		if p, err := parsePrefix(s); err == nil {
			o.IPAllowList = append(o.IPAllowList, p)
		}
	}
	for _, s := range sc.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			o.TrustedProxies = append(o.TrustedProxies, p)
		}
	}
	return o
}

// resolveFile finds a certificate file: absolute, else in <dir>/certs, else in <dir>.
func resolveFile(dir, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	inCerts := filepath.Join(dir, "certs", name)
	if _, err := os.Stat(inCerts); err == nil {
		return inCerts
	}
	return filepath.Join(dir, name)
}

// TLSConfig returns the server's TLS configuration, or nil for plain HTTP.
func (sc ServerConfig) TLSConfig(dir string) (*tls.Config, error) {
	if sc.Certificate.Key == "" {
		return nil, nil
	}
	certFile, keyFile := resolveFile(dir, sc.Certificate.Cert), resolveFile(dir, sc.Certificate.Key)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("scimgateway.certificate: cert %s / key %s: %w", certFile, keyFile, err)
	}
	for _, ca := range sc.Certificate.CA {
		f := resolveFile(dir, ca)
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("scimgateway.certificate.ca: %w", err)
		}
		found := false
		for {
			var block *pem.Block
			block, data = pem.Decode(data)
			if block == nil {
				break
			}
			if block.Type == "CERTIFICATE" {
				cert.Certificate = append(cert.Certificate, block.Bytes)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("scimgateway.certificate.ca: %s holds no PEM certificate", f)
		}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// PublisherTimeout reads scimgateway.stream.publisher.timeout (seconds, or a duration such as "45s");
// default 30 s.
func PublisherTimeout(c *gateway.Config) (time.Duration, error) {
	var raw string
	if err := c.Decode("scimgateway.stream.publisher.timeout", &raw); err != nil {
		return 0, err
	}
	if raw == "" {
		return DefaultPublisherTimeout, nil
	}
	if n, err := strconv.ParseFloat(raw, 64); err == nil && n > 0 {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("gateway config %s: scimgateway.stream.publisher.timeout: %q is not a duration: use seconds (30) or e.g. \"45s\"", c.Path, raw)
	}
	return d, nil
}
