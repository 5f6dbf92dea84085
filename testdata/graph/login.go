package graph

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// TokenLifetime is the lifetime of issued access tokens.
const TokenLifetime = time.Hour

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{0},
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"), "trace_id": NewID(), "correlation_id": NewID()})
}

// login serves the identity platform endpoints MSAL (azidentity) uses for the client-credentials flow when
// instance discovery is off: the tenant's OpenID configuration and the v2.0 token endpoint.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
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
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = issued{client: id, expires: time.Now().Add(TokenLifetime)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(TokenLifetime.Seconds()),
		"ext_expires_in": int(TokenLifetime.Seconds()), "access_token": tok})
}
