package natsauth_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

func TestAccountsAndTemplates(t *testing.T) {
	op, err := natsauth.NewOperator()
	if err != nil {
		t.Fatal(err)
	}
	oc, _ := jwt.DecodeOperatorClaims(op.JWT)
	sys, _ := jwt.DecodeAccountClaims(op.SysAccountJWT)
	if oc.Name != "SCIM-Stream" || oc.SystemAccount != sys.Subject || sys.Issuer != oc.Subject {
		t.Fatalf("operator %+v / system account %+v", oc, sys)
	}
	acc, err := natsauth.NewAccount(op, "acme", wire.Entra)
	if err != nil {
		t.Fatal(err)
	}
	ac, _ := jwt.DecodeAccountClaims(acc.JWT)
	if ac.Issuer != oc.Subject || ac.Name != "acme/ENTRA" || ac.Limits.JetStreamLimits.DiskStorage != jwt.NoLimit {
		t.Fatalf("account claims %+v", ac)
	}
	roles := map[string]*jwt.UserScope{}
	for _, k := range ac.SigningKeys.Keys() {
		s, _ := ac.SigningKeys.GetScope(k)
		us := s.(*jwt.UserScope)
		roles[us.Role] = us
	}
	if len(roles) != 2 || roles["pub"] == nil || roles["sub_entra"] == nil {
		t.Fatalf("roles %v", roles)
	}
	sub := roles["sub_entra"].Template.Permissions
	// Each JetStream API permission also in the cluster hubs' domain form, which a cluster node's front maps to.
	wantPub := []string{"$JS.API.INFO", "$JS.scimhub.API.INFO",
		"$JS.API.CONSUMER.INFO.acme.{{name()}}", "$JS.scimhub.API.CONSUMER.INFO.acme.{{name()}}",
		"$JS.API.CONSUMER.CREATE.acme.{{name()}}.ENTRA.>", "$JS.scimhub.API.CONSUMER.CREATE.acme.{{name()}}.ENTRA.>",
		"$JS.API.CONSUMER.MSG.NEXT.acme.{{name()}}", "$JS.scimhub.API.CONSUMER.MSG.NEXT.acme.{{name()}}",
		"$JS.ACK.acme.{{name()}}.>"}
	if !slices.Equal(sub.Pub.Allow, wantPub) || !slices.Equal(sub.Sub.Allow, []string{"_INBOX.>"}) || len(sub.Pub.Deny) != 0 {
		t.Fatalf("sub_entra template %+v", sub)
	}
	gw, err := natsauth.NewAccount(op, "acme", wire.GW)
	if err != nil {
		t.Fatal(err)
	}
	gc, _ := jwt.DecodeAccountClaims(gw.JWT)
	if gc.Limits.JetStreamLimits.DiskStorage != 0 || gc.Limits.JetStreamLimits.MemoryStorage != 0 {
		t.Fatal("JetStream enabled in a GW account")
	}
	if _, ok := gw.Signing["gw_pub_secret"]; !ok {
		t.Fatalf("gw signing keys %v", gw.Signing)
	}
	if _, err := natsauth.NewAccount(op, "a.b", wire.Entra); err == nil {
		t.Fatal("a dotted tenant name was accepted")
	}
}

func TestIssueBindsNameAndExpiry(t *testing.T) {
	op, _ := natsauth.NewOperator()
	acc, _ := natsauth.NewAccount(op, "acme", wire.HR)
	u, err := natsauth.Issue(acc, natsauth.SubHR, natsauth.IssueOptions{Name: "durable_x", Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	uc, _ := jwt.DecodeUserClaims(u.JWT)
	ac, _ := jwt.DecodeAccountClaims(acc.JWT)
	if uc.Name != "durable_x" || uc.IssuerAccount != ac.Subject || uc.Expires == 0 || !uc.HasEmptyPermissions() {
		t.Fatalf("user claims %+v", uc)
	}
	if !strings.Contains(u.Creds(), u.JWT) || !strings.Contains(u.Creds(), u.Seed.Reveal()) {
		t.Fatal("creds text lacks the JWT or the seed")
	}
	if strings.Contains(u.Seed.String(), "SU") {
		t.Fatal("the seed prints in clear")
	}
	if _, err := natsauth.Issue(acc, natsauth.SubEntra, natsauth.IssueOptions{}); err == nil {
		t.Fatal("issued a sub_entra user in an HR account")
	}
	gwAcc, _ := natsauth.NewAccount(op, "acme", wire.GW)
	g, err := natsauth.Issue(gwAcc, natsauth.GWSub, natsauth.IssueOptions{Name: "GW.APPX"})
	if err != nil || g.Name != "APPX" {
		t.Fatalf("gw user %q %v", g.Name, err)
	}
	if _, err := natsauth.Issue(gwAcc, natsauth.GWSub, natsauth.IssueOptions{Name: "ENTRA.APP1"}); err == nil {
		t.Fatal("a GW user bound to an ENTRA subject")
	}
}

func TestRotateKeepsTemplateAndRevokeRecords(t *testing.T) {
	op, _ := natsauth.NewOperator()
	acc, _ := natsauth.NewAccount(op, "acme", wire.Entra)
	rot, err := natsauth.Rotate(op, acc, natsauth.SubEntra)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := jwt.DecodeAccountClaims(acc.JWT)
	after, _ := jwt.DecodeAccountClaims(rot.JWT)
	tmpl := func(ac *jwt.AccountClaims, role string) (string, jwt.Permissions) {
		for _, k := range ac.SigningKeys.Keys() {
			s, _ := ac.SigningKeys.GetScope(k)
			if us := s.(*jwt.UserScope); us.Role == role {
				return k, us.Template.Permissions
			}
		}
		t.Fatalf("no %s key", role)
		return "", jwt.Permissions{}
	}
	k1, p1 := tmpl(before, "sub_entra")
	k2, p2 := tmpl(after, "sub_entra")
	if k1 == k2 || !slices.Equal(p1.Pub.Allow, p2.Pub.Allow) {
		t.Fatalf("rotate: key %s→%s, template %v→%v", k1, k2, p1.Pub.Allow, p2.Pub.Allow)
	}
	if pk1, _ := tmpl(before, "pub"); func() string { k, _ := tmpl(after, "pub"); return k }() != pk1 {
		t.Fatal("rotate changed the pub key")
	}
	u, _ := natsauth.Issue(rot, natsauth.SubEntra, natsauth.IssueOptions{Name: "d"})
	rev, err := natsauth.Revoke(op, rot, u.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := jwt.DecodeAccountClaims(rev.JWT)
	uc, _ := jwt.DecodeUserClaims(u.JWT)
	if !rc.IsClaimRevoked(uc) {
		t.Fatal("the revoked user's JWT is not revoked by the new account JWT")
	}
	if _, err := natsauth.Revoke(op, rot, "not-a-key"); err == nil {
		t.Fatal("revoked a non-key")
	}
}

func TestServerConfigLoadsInNatsServer(t *testing.T) {
	op, _ := natsauth.NewOperator()
	cfg := &config.Config{}
	cfg.Nats.Server.Auth.Operator = op
	cfg.Nats.Server.Auth.State, _ = natsauth.NewAccount(op, "", natsauth.State)
	ta := &config.TenantAccounts{}
	ta.Entra, _ = natsauth.NewAccount(op, "acme", wire.Entra)
	ta.GW, _ = natsauth.NewAccount(op, "acme", wire.GW)
	cfg.Nats.Server.Auth.Account = map[string]*config.TenantAccounts{"acme": ta}
	dir := t.TempDir()
	certs, err := broker.EnsureCerts(dir, config.Certificate{}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := natsauth.ServerConfig(cfg, natsauth.ExportOptions{Port: 4333, CertFile: certs.CertFile, KeyFile: certs.KeyFile,
		StoreDir: filepath.Join(dir, "js"), ResolverDir: filepath.Join(dir, "jwt")})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects the export: %v\n%s", err, conf)
	}
	sys, _ := jwt.DecodeAccountClaims(op.SysAccountJWT)
	if o.ServerName != "SCIM-Stream" || o.Port != 4333 || len(o.TrustedOperators) != 1 || o.SystemAccount != sys.Subject ||
		!o.JetStream || o.TLSConfig == nil || o.AccountResolver == nil {
		t.Fatalf("parsed options: name %q port %d operators %d sys %q js %v", o.ServerName, o.Port, len(o.TrustedOperators), o.SystemAccount, o.JetStream)
	}
	for _, a := range []string{ta.Entra.JWT, ta.GW.JWT, cfg.Nats.Server.Auth.State.JWT} {
		if !strings.Contains(conf, a) {
			t.Fatal("an account JWT is not preloaded")
		}
	}
}

func TestIssueSubscriberByTenant(t *testing.T) {
	op, _ := natsauth.NewOperator()
	cfg := &config.Config{}
	cfg.Nats.Server.Auth.Operator = op
	hr, _ := natsauth.NewAccount(op, "acme", wire.HR)
	cfg.Nats.Server.Auth.Account = map[string]*config.TenantAccounts{"acme": {HR: hr}}
	u, err := natsauth.IssueSubscriber(cfg, "acme", wire.HR, "HR.SF", "durable_plugin-loki_undefined", 0)
	if err != nil {
		t.Fatal(err)
	}
	uc, _ := jwt.DecodeUserClaims(u.JWT)
	ac, _ := jwt.DecodeAccountClaims(hr.JWT)
	if uc.IssuerAccount != ac.Subject || uc.Name != "durable_plugin-loki_undefined" || uc.Expires != 0 {
		t.Fatalf("subscriber claims %+v", uc)
	}
	if _, err := natsauth.IssueSubscriber(cfg, "acme", wire.Entra, "ENTRA.APP1", "", 0); err == nil || !strings.Contains(err.Error(), "bootstrap -entra acme") {
		t.Fatalf("missing account: %v", err)
	}
}
