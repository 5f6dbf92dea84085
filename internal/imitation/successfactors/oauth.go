package successfactors

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// SAML and OAuth identifiers of the SuccessFactors SAML-bearer flow.
const (
	GrantSAML2Bearer       = "urn:ietf:params:oauth:grant-type:saml2-bearer"
	GrantClientCredentials = "client_credentials"
	samlNS                 = "urn:oasis:names:tc:SAML:2.0:assertion"
)

// SAMLClient is an OAuth client registered in SuccessFactors' "Manage OAuth2 Client Applications": the API key,
// the company, and the X.509 certificate whose key signs the client's assertions.
type SAMLClient struct {
	ClientID  string
	CompanyID string
	Cert      *x509.Certificate
	// Users are the API users an assertion may name (NameID); empty allows any.
	Users []string
	// Audience, when set, must be the assertion's audience.
	Audience string
}

type token struct {
	client string
	user   string
	exp    time.Time
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// token serves POST /oauth/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body is not a form: "+err.Error())
		return
	}
	clientID, secret, basic := r.BasicAuth()
	if basic { // RFC 6749 §2.3.1: form-urlencoded before the basic encoding
		clientID, _ = url.QueryUnescape(clientID)
		secret, _ = url.QueryUnescape(secret)
	} else {
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	var user string
	switch gt := r.PostForm.Get("grant_type"); gt {
	case GrantClientCredentials:
		s.mu.Lock()
		want, ok := s.clients[clientID]
		s.mu.Unlock()
		if !ok || want != secret {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
			return
		}
	case GrantSAML2Bearer:
		var err error
		if user, err = s.checkAssertion(r.PostForm.Get("client_id"), r.PostForm.Get("company_id"), r.PostForm.Get("assertion")); err != nil {
			oauthError(w, http.StatusUnauthorized, "invalid_grant", err.Error())
			return
		}
		clientID = r.PostForm.Get("client_id")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported", gt))
		return
	}
	tok := randomToken()
	s.mu.Lock()
	ttl := s.tokenTTL
	s.tokens[tok] = token{client: clientID, user: user, exp: s.now().Add(ttl)}
	s.stats.TokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl / time.Second)})
}

// checkAssertion validates a base64 SAML 2.0 assertion the way SuccessFactors does: the XML signature against
// the client's registered certificate (goxmldsig), then the conditions, audience, subject and api_key on the
// signed element only, so content outside the signature cannot smuggle claims.
func (s *Server) checkAssertion(clientID, companyID, assertion string) (string, error) {
	s.mu.Lock()
	c, ok := s.saml[clientID]
	now := s.now()
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("unknown client_id %q", clientID)
	}
	if companyID != c.CompanyID {
		return "", fmt.Errorf("company_id %q does not match the client's company", companyID)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(assertion))
	if err != nil {
		if raw, err = base64.URLEncoding.DecodeString(strings.TrimSpace(assertion)); err != nil {
			return "", fmt.Errorf("assertion is not base64: %v", err)
		}
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return "", fmt.Errorf("assertion is not XML: %v", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Assertion" || root.NamespaceURI() != samlNS {
		return "", fmt.Errorf("root element is not a SAML 2.0 Assertion")
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c.Cert}})
	signed, err := vc.Validate(root)
	if err != nil {
		return "", fmt.Errorf("signature: %v", err)
	}
	find := func(path string) *etree.Element { return signed.FindElement(path) }
	if iss := find("./Issuer"); iss == nil || strings.TrimSpace(iss.Text()) == "" {
		return "", fmt.Errorf("assertion has no Issuer")
	}
	cond := find("./Conditions")
	if cond == nil {
		return "", fmt.Errorf("assertion has no Conditions")
	}
	const skew = time.Minute
	nb, err := time.Parse(time.RFC3339, cond.SelectAttrValue("NotBefore", ""))
	if err != nil {
		return "", fmt.Errorf("Conditions/@NotBefore: %v", err)
	}
	na, err := time.Parse(time.RFC3339, cond.SelectAttrValue("NotOnOrAfter", ""))
	if err != nil {
		return "", fmt.Errorf("Conditions/@NotOnOrAfter: %v", err)
	}
	if now.Add(skew).Before(nb) || !now.Add(-skew).Before(na) {
		return "", fmt.Errorf("assertion is not valid now (valid %s to %s)", nb.Format(time.RFC3339), na.Format(time.RFC3339))
	}
	if c.Audience != "" {
		aud := find("./Conditions/AudienceRestriction/Audience")
		if aud == nil || aud.Text() != c.Audience {
			return "", fmt.Errorf("audience does not match the client's audience %q", c.Audience)
		}
	}
	nameID := find("./Subject/NameID")
	if nameID == nil || nameID.Text() == "" {
		return "", fmt.Errorf("assertion has no Subject/NameID")
	}
	if len(c.Users) > 0 && !contains(c.Users, nameID.Text()) {
		return "", fmt.Errorf("NameID %q is not an API user of this client", nameID.Text())
	}
	apiKey := ""
	for _, a := range signed.FindElements("./AttributeStatement/Attribute") {
		if a.SelectAttrValue("Name", "") == "api_key" {
			if v := a.FindElement("./AttributeValue"); v != nil {
				apiKey = v.Text()
			}
		}
	}
	if apiKey != clientID {
		return "", fmt.Errorf("attribute api_key %q does not match client_id", apiKey)
	}
	return nameID.Text(), nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// authorize checks an API request's credentials: a bearer token issued here (or a static one), or basic
// auth; and every required header. It returns a short description of the caller for the request log.
func (s *Server) authorize(r *http.Request) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.headers {
		if r.Header.Get(k) != v {
			return "missing header " + k, false
		}
	}
	h := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "Bearer "):
		tok := strings.TrimPrefix(h, "Bearer ")
		if s.static[tok] {
			return "bearer", true
		}
		t, ok := s.tokens[tok]
		if !ok || !s.now().Before(t.exp) {
			return "bearer (unknown or expired)", false
		}
		return "bearer client=" + t.client, true
	case strings.HasPrefix(h, "Basic "):
		u, p, _ := r.BasicAuth()
		if want, ok := s.basic[u]; ok && want == p {
			return "basic user=" + u, true
		}
		return "basic (wrong)", false
	}
	return "anonymous", s.anonymous
}
