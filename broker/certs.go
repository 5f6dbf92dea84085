package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/scim-stream/scim-stream/config"
)

// Certs are the TLS files of the client port.
type Certs struct {
	CertFile, KeyFile string
	// CAFile is "" when only a certificate and key were provided (clients then use their system roots).
	CAFile string
	CAPEM  []byte
	// Generated is true when this call created the files.
	Generated bool
}

// CertHosts are the names a generated server certificate is valid for: this host, localhost, the loopback
// addresses and the configured nats.server.hosts.
func CertHosts(extra []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append([]string{h}, hosts...)
	}
	for _, h := range extra {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// EnsureCerts returns the configured certificate files under dir, generating a CA and a server certificate for
// hosts when none of them exists. Existing files are never overwritten, so clients keep trusting the same CA.
func EnsureCerts(dir string, c config.Certificate, hosts []string) (Certs, error) {
	name := func(n, def string) string {
		if n == "" {
			n = def
		}
		if filepath.IsAbs(n) {
			return n
		}
		return filepath.Join(dir, n)
	}
	out := Certs{
		CertFile: name(c.CertFile, config.DefaultCertFile),
		KeyFile:  name(c.KeyFile, config.DefaultKeyFile),
		CAFile:   name(c.CAFile, config.DefaultCAFile),
	}
	exists := func(p string) (bool, error) {
		_, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	ce, err := exists(out.CertFile)
	if err != nil {
		return out, fmt.Errorf("nats.server.certificate.certfile: %w", err)
	}
	ke, err := exists(out.KeyFile)
	if err != nil {
		return out, fmt.Errorf("nats.server.certificate.keyfile: %w", err)
	}
	ca, err := exists(out.CAFile)
	if err != nil {
		return out, fmt.Errorf("nats.server.certificate.cafile: %w", err)
	}
	switch {
	case ce && ke:
		if ca {
			if out.CAPEM, err = os.ReadFile(out.CAFile); err != nil {
				return out, fmt.Errorf("nats.server.certificate.cafile: %w", err)
			}
		} else {
			out.CAFile = ""
		}
		return out, nil
	case ce || ke:
		return out, fmt.Errorf("nats.server.certificate: %s and %s must both exist (or both be absent to generate them)", out.CertFile, out.KeyFile)
	case ca:
		return out, fmt.Errorf("nats.server.certificate: %s exists but %s and %s do not; remove the CA file to generate a new CA, or provide the server certificate and key", out.CAFile, out.CertFile, out.KeyFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return out, fmt.Errorf("certificates directory: %w", err)
	}
	caPEM, certPEM, keyPEM, err := generate(hosts)
	if err != nil {
		return out, err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode fs.FileMode
	}{{out.CAFile, caPEM, 0o644}, {out.CertFile, certPEM, 0o644}, {out.KeyFile, keyPEM, 0o600}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return out, fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	out.CAPEM, out.Generated = caPEM, true
	return out, nil
}

// generate creates a CA and a server certificate signed by it (ECDSA P-256).
func generate(hosts []string) (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now().Add(-time.Hour)
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
		return n
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "SCIM Stream CA", Organization: []string{"SCIM Stream"}},
		NotBefore:             now,
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating the CA certificate: %w", err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "SCIM-Stream", Organization: []string{"SCIM Stream"}},
		NotBefore:    now,
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generating the server certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
