package natsauth

import (
	"sync"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// TestChannelAccountsDerived: a channel account is the same for every process that has the configuration (same
// public and signing keys without any cache), differs per channel, carries the parent's revocations, and follows
// a rotation of the parent's role key.
func TestChannelAccountsDerived(t *testing.T) {
	op, _ := NewOperator()
	parent, err := NewAccount(op, "acme", wire.HR)
	if err != nil {
		t.Fatal(err)
	}
	derive := func(p *config.AccountKeys, ch string) (*config.AccountKeys, *jwt.AccountClaims) {
		channelCache = sync.Map{} // as another process would
		a, err := ChannelAccount(op, p, "acme", wire.HR, ch)
		if err != nil {
			t.Fatal(err)
		}
		ac, err := jwt.DecodeAccountClaims(a.JWT)
		if err != nil {
			t.Fatal(err)
		}
		return a, ac
	}
	a1, c1 := derive(parent, "SF")
	a2, c2 := derive(parent, "SF")
	if c1.Subject != c2.Subject || a1.Signing[SubHR.ConfigKey()] != a2.Signing[SubHR.ConfigKey()] || c1.Name != "acme/HR/SF" {
		t.Fatalf("derivation is not deterministic: %s %s", c1.Subject, c2.Subject)
	}
	if _, ce := derive(parent, "EXEC"); ce.Subject == c1.Subject {
		t.Fatal("two channels got the same account")
	}
	if c1.Limits.JetStreamLimits.DiskStorage == 0 {
		t.Fatal("no JetStream in the channel account")
	}
	u, err := Issue(a1, SubHR, IssueOptions{Name: "durable_x"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := Revoke(op, parent, u.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := derive(revoked, "SF"); !c.IsClaimRevoked(&jwt.UserClaims{ClaimsData: jwt.ClaimsData{Subject: u.PublicKey, IssuedAt: 1}}) {
		t.Fatal("the parent's revocation is not in the channel account")
	}
	rotated, err := Rotate(op, parent, SubHR)
	if err != nil {
		t.Fatal(err)
	}
	if a, c := derive(rotated, "SF"); a.Signing[SubHR.ConfigKey()] == a1.Signing[SubHR.ConfigKey()] || c.Subject != c1.Subject {
		t.Fatal("rotating the parent's sub_hr key did not rotate the channel's, or changed the account")
	}
}

// TestCurrentRolesUpgradesOldAccounts: an account bootstrapped with older role templates (and a scoped gw_sub key)
// is served with today's, keeping its keys, so credentials issued before keep working under the current rules.
func TestCurrentRolesUpgradesOldAccounts(t *testing.T) {
	op, _ := NewOperator()
	gw, err := NewAccount(op, "acme", wire.GW)
	if err != nil {
		t.Fatal(err)
	}
	ac, _ := jwt.DecodeAccountClaims(gw.JWT)
	pubOf := func(r Role) string {
		kp, _ := nkeysFromSeed(gw.Signing[r.ConfigKey()])
		p, _ := kp.PublicKey()
		return p
	}
	// The old shape: gw_pub may subscribe _INBOX.> only; gw_sub scoped with a plain subscription.
	old := jwt.NewUserScope()
	old.Key, old.Role = pubOf(GWPub), string(GWPub)
	old.Template.Pub.Allow.Add("GW.{{name()}}")
	old.Template.Sub.Allow.Add("_INBOX.>")
	ac.SigningKeys.Remove(pubOf(GWPub))
	ac.SigningKeys.AddScopedSigner(old)
	oldSub := jwt.NewUserScope()
	oldSub.Key, oldSub.Role = pubOf(GWSub), string(GWSub)
	oldSub.Template.Sub.Allow.Add("GW.{{name()}}")
	ac.SigningKeys.Remove(pubOf(GWSub))
	ac.SigningKeys.AddScopedSigner(oldSub)
	oldKeys := *gw
	if oldKeys.JWT, err = encodeAccount(op, ac); err != nil {
		t.Fatal(err)
	}
	cur, err := currentRoles(op, "acme", wire.GW, &oldKeys)
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := jwt.DecodeAccountClaims(cur.JWT)
	if nc.Subject != ac.Subject {
		t.Fatal("the account changed")
	}
	s, _ := nc.SigningKeys.GetScope(pubOf(GWPub))
	if us, ok := s.(*jwt.UserScope); !ok || !us.Template.Sub.Allow.Contains(gwInboxRoot+".{{name()}}.>") {
		t.Fatalf("gw_pub template not upgraded: %+v", s)
	}
	if s, ok := nc.SigningKeys.GetScope(pubOf(GWSub)); !ok || s != nil {
		t.Fatalf("gw_sub still scoped: %+v", s)
	}
	if again, _ := currentRoles(op, "acme", wire.GW, cur); again.JWT != cur.JWT {
		t.Fatal("an up-to-date account was re-encoded")
	}
}

func nkeysFromSeed(s config.Secret) (nkeys.KeyPair, error) { return nkeys.FromSeed([]byte(s.Reveal())) }
