package entra

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scim-stream/scim-stream/config"
)

// noSecrets removes auth.oauth so the environment decides the credential, and clears the variables azidentity
// reads.
func noSecrets(t *testing.T) func(*config.Tenant, *Options) {
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return func(c *config.Tenant, _ *Options) { c.Auth.OAuth = nil }
}

func collectsEveryone(t *testing.T, e *env, client string) {
	t.Helper()
	_, recs := e.collect(t)
	if len(recs) != len(members) {
		t.Fatalf("collected %d users, want %d", len(recs), len(members))
	}
	for _, r := range e.requests("/v1.0/") {
		if r.Client != client {
			t.Fatalf("Graph called as %q, want %q", r.Client, client)
		}
	}
}

func TestCertificateCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scim-stream"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	file := filepath.Join(t.TempDir(), "app.pem")
	must(t, os.WriteFile(file, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...), 0o600))

	tweak := noSecrets(t)
	t.Setenv("AZURE_CLIENT_ID", "cert-app")
	t.Setenv("AZURE_CLIENT_CERTIFICATE_PATH", file)
	e := newEnvWith(t, tweak, func(e *env) { e.srv.AddCertificateClient("cert-app", cert) })
	collectsEveryone(t, e, "cert-app")
}

func TestWorkloadIdentityCredential(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	const issuer, subject = "https://oidc.cluster.example/abc", "system:serviceaccount:scim:scim-stream"
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer, "sub": subject,
		"aud": "api://AzureADTokenExchange", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}).SignedString(key)
	must(t, err)
	file := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(file, []byte(tok), 0o600))

	tweak := noSecrets(t)
	t.Setenv("AZURE_CLIENT_ID", "k8s-app")
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", file)
	e := newEnvWith(t, tweak, func(e *env) { e.srv.AddFederatedClient("k8s-app", issuer, subject, &key.PublicKey) })
	collectsEveryone(t, e, "k8s-app")
}

func TestManagedIdentityCredential(t *testing.T) {
	tweak := noSecrets(t)
	e := newEnvWith(t, tweak, func(e *env) {
		e.srv.EnableManagedIdentity("identity-header-value")
		t.Setenv("IDENTITY_ENDPOINT", e.ts.URL+"/msi/token")
		t.Setenv("IDENTITY_HEADER", "identity-header-value")
	})
	collectsEveryone(t, e, "managed-identity")
}
