package graph

import (
	"crypto"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// federated is a workload identity federation: tokens of issuer for subject, signed by key, stand for the app.
type federated struct {
	issuer, subject string
	key             crypto.PublicKey
}

// AddCertificateClient registers an application that authenticates with a certificate (a client assertion
// signed by the certificate's key, as MSAL sends it).
func (s *Server) AddCertificateClient(id string, cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certs[id] = cert
}

// AddFederatedClient registers an application trusting tokens of an external issuer for a subject (Kubernetes
// workload identity: the service account token in AZURE_FEDERATED_TOKEN_FILE), verified with key.
func (s *Server) AddFederatedClient(id, issuer, subject string, key crypto.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.federated[id] = federated{issuer: issuer, subject: subject, key: key}
}

// EnableManagedIdentity serves the App Service managed identity endpoint at /msi/token; callers must send
// header as X-IDENTITY-HEADER (IDENTITY_ENDPOINT and IDENTITY_HEADER in the environment).
func (s *Server) EnableManagedIdentity(header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msiHeader = header
}

func (s *Server) issue(client string) string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = issued{client: client, expires: time.Now().Add(TokenLifetime)}
	s.mu.Unlock()
	return tok
}

func (s *Server) managedIdentity(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	want := s.msiHeader
	s.mu.Unlock()
	if want == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(want)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_request", "Missing or wrong X-IDENTITY-HEADER.")
		return
	}
	resource := r.URL.Query().Get("resource")
	if resource == "" || r.URL.Query().Get("api-version") == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "resource and api-version are required.")
		return
	}
	exp := time.Now().Add(TokenLifetime).Unix()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": s.issue("managed-identity"), "expires_on": strconv.FormatInt(exp, 10),
		"resource": resource, "token_type": "Bearer", "client_id": "managed-identity"})
}

// verifyAssertion checks a client assertion: a certificate-signed JWT for the token endpoint, or a federated
// token from a trusted issuer.
func (s *Server) verifyAssertion(id, assertion, tokenEndpoint string) error {
	s.mu.Lock()
	cert, isCert := s.certs[id]
	fed, isFed := s.federated[id]
	s.mu.Unlock()
	switch {
	case isCert:
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(assertion, claims, func(*jwt.Token) (any, error) { return cert.PublicKey, nil },
			jwt.WithValidMethods([]string{"PS256", "RS256"}), jwt.WithAudience(tokenEndpoint), jwt.WithIssuer(id), jwt.WithSubject(id), jwt.WithExpirationRequired())
		return err
	case isFed:
		_, err := jwt.ParseWithClaims(assertion, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return fed.key, nil },
			jwt.WithValidMethods([]string{"RS256", "PS256", "ES256"}), jwt.WithAudience("api://AzureADTokenExchange"),
			jwt.WithIssuer(fed.issuer), jwt.WithSubject(fed.subject), jwt.WithExpirationRequired())
		return err
	}
	return fmt.Errorf("no certificate or federated credential registered")
}

// TokenLifetime is the lifetime of issued access tokens.
const TokenLifetime = time.Hour

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{0},
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"), "trace_id": NewID(), "correlation_id": NewID()})
}

// login serves the identity platform endpoints MSAL (azidentity) uses for the client-credentials flow when
// instance discovery is off: the tenant's OpenID configuration and the v2.0 token endpoint.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/msi/token" {
		s.managedIdentity(w, r)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 {
		tokenError(w, http.StatusNotFound, "invalid_request", "Unknown endpoint.")
		return
	}
	tenant := parts[0]
	if tenant != s.Tenant.ID && tenant != s.Tenant.Domain {
		tokenError(w, http.StatusBadRequest, "invalid_tenant", "AADSTS90002: Tenant '"+tenant+"' not found.")
		return
	}
	authority := "https://" + r.Host + "/" + tenant
	switch strings.Join(parts[1:], "/") {
	case "v2.0/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        authority + "/oauth2/v2.0/token",
			"authorization_endpoint":                authority + "/oauth2/v2.0/authorize",
			"issuer":                                "https://" + r.Host + "/" + s.Tenant.ID + "/v2.0",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"tenant_region_scope":                   "EU",
		})
	case "oauth2/v2.0/token":
		s.token(w, r)
	default:
		tokenError(w, http.StatusNotFound, "invalid_request", "Unknown endpoint.")
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint takes POST.")
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Malformed form body.")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
		return
	}
	// MSAL adds openid, profile and offline_access to the resource's /.default scope.
	resource := false
	for _, sc := range strings.Fields(r.PostForm.Get("scope")) {
		resource = resource || strings.HasSuffix(sc, "/.default")
	}
	if !resource {
		tokenError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided scope is invalid; client credentials need <resource>/.default.")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	if a := r.PostForm.Get("client_assertion"); a != "" {
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS50027: unsupported client_assertion_type.")
			return
		}
		endpoint := "https://" + r.Host + r.URL.Path
		if err := s.verifyAssertion(id, a, endpoint); err != nil {
			tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS700027: Client assertion failed signature or claim validation: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(TokenLifetime.Seconds()),
			"ext_expires_in": int(TokenLifetime.Seconds()), "access_token": s.issue(id)})
		return
	}
	s.mu.Lock()
	want, known := s.clients[id]
	s.mu.Unlock()
	if !known {
		tokenError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier '"+id+"' was not found in the directory.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(TokenLifetime.Seconds()),
		"ext_expires_in": int(TokenLifetime.Seconds()), "access_token": s.issue(id)})
}
