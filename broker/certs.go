package broker

import (
	"crypto"
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
	"strings"
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
	// Reissued lists the hosts a new server certificate was issued for because the existing one, signed by the
	// generated CA, did not name them (the CA stays, so subscribers keep their CA file).
	Reissued []string
	// Missing lists the hosts the server certificate does not name and that could not be added because the
	// certificate was not issued by a CA generated here (operator-provided files are never rewritten).
	Missing []string
}

// caKeyFile is where the generated CA's private key is kept, next to the CA file: it lets a later start or
// bootstrap add host names to the server certificate without replacing the CA that subscribers trust.
func caKeyFile(caFile string) string {
	return strings.TrimSuffix(caFile, filepath.Ext(caFile)) + "-key.pem"
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
		return out, coverHosts(&out, hosts)
	case ce || ke:
		return out, fmt.Errorf("nats.server.certificate: %s and %s must both exist (or both be absent to generate them)", out.CertFile, out.KeyFile)
	case ca:
		return out, fmt.Errorf("nats.server.certificate: %s exists but %s and %s do not; remove the CA file to generate a new CA, or provide the server certificate and key", out.CAFile, out.CertFile, out.KeyFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return out, fmt.Errorf("certificates directory: %w", err)
	}
	caPEM, caKeyPEM, certPEM, keyPEM, err := generate(hosts)
	if err != nil {
		return out, err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode fs.FileMode
	}{{caKeyFile(out.CAFile), caKeyPEM, 0o600}, {out.CAFile, caPEM, 0o644}, {out.CertFile, certPEM, 0o644}, {out.KeyFile, keyPEM, 0o600}} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return out, fmt.Errorf("writing %s: %w", f.path, err)
		}
	}
	out.CAPEM, out.Generated = caPEM, true
	return out, nil
}

// generate creates a CA and a server certificate signed by it (ECDSA P-256).
func generate(hosts []string) (caPEM, caKeyPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	now := time.Now().Add(-time.Hour)
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
		return nil, nil, nil, nil, fmt.Errorf("generating the CA certificate: %w", err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	caKDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	certPEM, keyPEM, err = serverCert(caCert, caKey, hosts)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: caKDER}), certPEM, keyPEM, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

// serverCert issues a server certificate for hosts (DNS names or IP addresses), signed by the CA.
func serverCert(ca *x509.Certificate, caKey crypto.Signer, hosts []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "SCIM-Stream", Organization: []string{"SCIM Stream"}},
		NotBefore:    now,
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Client authentication too: cluster routes are mutual TLS (a stock nats-server insists on it).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the server certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// parseCert reads the first certificate of a PEM file.
func parseCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// certNames are the DNS names and IP addresses a certificate is valid for, as strings.
func certNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// coverHosts makes the existing server certificate name every host: when it was issued by the CA generated here
// (whose key is kept in caKeyFile), a new one is issued by the same CA for its names plus the missing ones;
// otherwise the missing hosts are reported in c.Missing.
func coverHosts(c *Certs, hosts []string) error {
	cert, err := parseCert(c.CertFile)
	if err != nil {
		return fmt.Errorf("nats.server.certificate.certfile: %w", err)
	}
	var missing []string
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			missing = append(missing, h)
		}
	}
	// A certificate from before cluster mode cannot authenticate a route as a client: re-issue it once.
	clientAuth := slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	if len(missing) == 0 && clientAuth {
		return nil
	}
	ca, caKey := ownCA(c, cert)
	if ca == nil {
		c.Missing = missing
		return nil
	}
	certPEM, keyPEM, err := serverCert(ca, caKey, append(certNames(cert), missing...))
	if err != nil {
		return err
	}
	// The key first: a crash between the two writes leaves a pair that does not match, which start-up reports,
	// rather than a new certificate next to an old key.
	if err := os.WriteFile(c.KeyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", c.KeyFile, err)
	}
	if err := os.WriteFile(c.CertFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", c.CertFile, err)
	}
	c.Reissued = missing
	return nil
}

// ownCA returns the CA certificate and key when cert was issued by the CA generated here; nil otherwise.
func ownCA(c *Certs, cert *x509.Certificate) (*x509.Certificate, crypto.Signer) {
	if c.CAFile == "" {
		return nil, nil
	}
	kb, err := os.ReadFile(caKeyFile(c.CAFile))
	if err != nil {
		return nil, nil
	}
	blk, _ := pem.Decode(kb)
	if blk == nil {
		return nil, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, nil
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil
	}
	ca, err := parseCert(c.CAFile)
	if err != nil || !ca.IsCA || cert.CheckSignatureFrom(ca) != nil {
		return nil, nil
	}
	if pub, ok := ca.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, nil
	}
	return ca, key
}
