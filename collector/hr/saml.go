package hr

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/scim-stream/scim-stream/config"
)

// SAML 2.0 names used by the SuccessFactors SAML-bearer flow.
const (
	samlNS           = "urn:oasis:names:tc:SAML:2.0:assertion"
	grantSAML2Bearer = "urn:ietf:params:oauth:grant-type:saml2-bearer"
	nameIDUnspec     = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	nameIDEmail      = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	cmBearer         = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	acPassword       = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
)

// samlAuth signs a SAML 2.0 assertion for the API user (name_id) with the tenant's private key and exchanges
// it at token_url for a bearer token (SAP SuccessFactors "OAuth 2.0 SAML bearer assertion").
type samlAuth struct {
	*tokenCache
	cfg    config.OAuthSAMLAssertion
	signer crypto.Signer
	certs  [][]byte // DER chain for KeyInfo; empty when no cert_file (the server knows the registered cert)
	format string   // NameID format
}

func newSAML(key string, c *config.OAuthSAMLAssertion, s *Source, certsDir string) (*samlAuth, error) {
	if certsDir == "" {
		certsDir = config.CertsDir(filepath.Join("config", "config.yaml"))
	}
	for _, f := range []struct{ k, v string }{{"client_id", c.ClientID}, {"company_id", c.CompanyID}, {"name_id", c.NameID}, {"key_file", c.KeyFile}, {"token_url", c.TokenURL}} {
		if strings.TrimSpace(f.v) == "" {
			return nil, fmt.Errorf("%s.%s is mandatory", key, f.k)
		}
	}
	if u, err := url.Parse(c.TokenURL); err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("%s.token_url: %q is not an absolute URL such as https://api2.successfactors.eu/oauth/token", key, redactURL(c.TokenURL))
	}
	a := &samlAuth{cfg: *c}
	if a.cfg.Issuer == "" {
		a.cfg.Issuer = config.DefaultSAMLIssuer
	}
	if a.cfg.Audience == "" {
		a.cfg.Audience = config.DefaultSAMLAudience
	}
	if a.cfg.LifeTime <= 0 {
		a.cfg.LifeTime = config.DefaultSAMLLifeTime
	}
	switch strings.ToLower(a.cfg.UserIdentifierFormat) {
	case "", "username", "userid":
		a.format = nameIDUnspec
	case "email":
		a.format = nameIDEmail
	default:
		return nil, fmt.Errorf("%s.user_identifier_format: %q is not one of userName, userId, email", key, a.cfg.UserIdentifierFormat)
	}
	keyPath := filepath.Join(certsDir, c.KeyFile)
	signer, err := loadKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("%s.key_file: %w", key, err)
	}
	a.signer = signer
	if c.CertFile != "" {
		certPath := filepath.Join(certsDir, c.CertFile)
		if a.certs, err = loadCerts(certPath, signer); err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", key, err)
		}
	}
	a.tokenCache = &tokenCache{src: s, name: "oauth_saml_assertion client " + c.ClientID, fetch: a.exchange(s)}
	return a, nil
}

func loadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the private key: %w (put the PEM file in the config's certs directory)", err)
	}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, fmt.Errorf("%s has no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", path)
		}
		var k any
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s block does not parse (%v); an encrypted key must be decrypted first", path, blk.Type, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: unsupported key type %T; use RSA or ECDSA", path, k)
		}
		return s, nil
	}
}

func loadCerts(path string, key crypto.Signer) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the certificate: %w", err)
	}
	var ders [][]byte
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			ders = append(ders, blk.Bytes)
		}
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("%s has no PEM CERTIFICATE", path)
	}
	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pk, ok := key.Public().(equaler); ok && !pk.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("%s does not belong to key_file's private key", path)
	}
	return ders, nil
}

func (a *samlAuth) exchange(s *Source) fetchFunc {
	return func(ctx context.Context, _ string) (string, time.Duration, error) {
		assertion, err := a.assertion(s.now())
		if err != nil {
			return "", 0, &tokenError{msg: fmt.Sprintf("oauth_saml_assertion: cannot sign the assertion: %v", err)}
		}
		form := url.Values{
			"grant_type": {grantSAML2Bearer},
			"client_id":  {a.cfg.ClientID},
			"company_id": {a.cfg.CompanyID},
			"assertion":  {assertion},
		}
		return s.requestToken(ctx, a.cfg.TokenURL, form, nil, "oauth_saml_assertion client "+a.cfg.ClientID)
	}
}

// assertion builds and signs the assertion and returns it base64-encoded, as the token endpoint expects.
func (a *samlAuth) assertion(now time.Time) (string, error) {
	now = now.UTC().Truncate(time.Second)
	ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05Z") }
	until := now.Add(time.Duration(a.cfg.LifeTime) * time.Second)
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}

	root := etree.NewElement("saml2:Assertion")
	root.CreateAttr("xmlns:saml2", samlNS)
	root.CreateAttr("ID", "_"+hex.EncodeToString(id[:]))
	root.CreateAttr("IssueInstant", ts(now))
	root.CreateAttr("Version", "2.0")
	root.CreateElement("saml2:Issuer").SetText(a.cfg.Issuer)

	subj := root.CreateElement("saml2:Subject")
	nid := subj.CreateElement("saml2:NameID")
	nid.CreateAttr("Format", a.format)
	nid.SetText(a.cfg.NameID)
	sc := subj.CreateElement("saml2:SubjectConfirmation")
	sc.CreateAttr("Method", cmBearer)
	scd := sc.CreateElement("saml2:SubjectConfirmationData")
	scd.CreateAttr("NotOnOrAfter", ts(until))
	scd.CreateAttr("Recipient", a.cfg.TokenURL)

	cond := root.CreateElement("saml2:Conditions")
	cond.CreateAttr("NotBefore", ts(now.Add(-time.Minute))) // tolerate the server's clock being a little behind
	cond.CreateAttr("NotOnOrAfter", ts(until))
	cond.CreateElement("saml2:AudienceRestriction").CreateElement("saml2:Audience").SetText(a.cfg.Audience)

	as := root.CreateElement("saml2:AuthnStatement")
	as.CreateAttr("AuthnInstant", ts(now))
	as.CreateAttr("SessionIndex", "_"+hex.EncodeToString(id[:8]))
	as.CreateElement("saml2:AuthnContext").CreateElement("saml2:AuthnContextClassRef").SetText(acPassword)

	st := root.CreateElement("saml2:AttributeStatement")
	for _, at := range [][2]string{{"api_key", a.cfg.ClientID}, {"company_id", a.cfg.CompanyID}} {
		attr := st.CreateElement("saml2:Attribute")
		attr.CreateAttr("Name", at[0])
		// No xsi:type="xs:string": exclusive canonicalization drops the xs declaration (it appears only
		// inside an attribute value), which would leave an unbound prefix.
		attr.CreateElement("saml2:AttributeValue").SetText(at[1])
	}

	ctx, err := dsig.NewSigningContext(a.signer, a.certs)
	if err != nil {
		return "", err
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(root)
	if err != nil {
		return "", err
	}
	// The SAML schema puts ds:Signature right after Issuer; goxmldsig appends it. The enveloped-signature
	// transform removes it wherever it is, so moving it keeps the signature valid.
	// (goxmldsig appends the element without adopting it, so the slice is edited directly.)
	last := len(signed.Child) - 1
	sig, ok := signed.Child[last].(*etree.Element)
	if !ok || sig.Tag != "Signature" {
		return "", fmt.Errorf("signed assertion has no trailing Signature")
	}
	signed.Child = append(signed.Child[:1], append([]etree.Token{sig}, signed.Child[1:last]...)...)
	if len(a.certs) == 0 {
		// Without cert_file the KeyInfo would be empty, which verifiers reject; SuccessFactors checks against
		// the certificate registered with the OAuth client.
		if ki := sig.SelectElement("KeyInfo"); ki != nil {
			sig.RemoveChild(ki)
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(signed)
	b, err := doc.WriteToBytes()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
