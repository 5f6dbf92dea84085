package natsauth

import (
	"sync"
	"testing"

	"github.com/nats-io/jwt/v2"

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
