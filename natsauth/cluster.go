package natsauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// Cluster mode (see broker/cluster.go): each node runs a clustered "hub" server with JetStream in domain
// HubDomain, and a client-facing "front" server named SCIM-Stream without JetStream, joined to its hub as a leaf
// node with one connection per account. A leaf connection that binds a normal account does not carry the
// JetStream API ($JS.API.>, $KV.>, $OBJ.>), so the front's copy of each account maps those subjects into the
// hub's domain, where the hub answers them.

// frontMappings are the front's subject mappings: the local JetStream API forms into the hubs' domain.
var frontMappings = [][2]string{
	{"$JS.API.INFO", "$JS." + HubDomain + ".API.INFO"},
	{"$JS.API.STREAM.>", "$JS." + HubDomain + ".API.STREAM.>"},
	{"$JS.API.CONSUMER.>", "$JS." + HubDomain + ".API.CONSUMER.>"},
	{"$JS.API.DIRECT.>", "$JS." + HubDomain + ".API.DIRECT.>"},
}

// FrontAccountJWT is the front server's copy of an account: the same account key, signing keys (role templates)
// and revocations as the configured JWT — so the same credentials authenticate there and a revocation applies at
// once — but without JetStream (the hubs hold the data) and with the JetStream API mapped into HubDomain.
func FrontAccountJWT(op config.Operator, accountJWT string) (string, error) {
	ac, err := jwt.DecodeAccountClaims(accountJWT)
	if err != nil {
		return "", fmt.Errorf("front account: %w", err)
	}
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{}
	ac.Limits.JetStreamTieredLimits = nil
	if ac.Limits.JetStreamLimits == (jwt.JetStreamLimits{}) && hasJetStream(accountJWT) {
		if ac.Mappings == nil {
			ac.Mappings = jwt.Mapping{}
		}
		for _, m := range frontMappings {
			ac.Mappings[jwt.Subject(m[0])] = []jwt.WeightedMapping{{Subject: jwt.Subject(m[1]), Weight: 100}}
		}
	}
	return encodeAccount(op, ac)
}

// hasJetStream reports whether the configured account has JetStream (ENTRA, HR, state; not GW).
func hasJetStream(accountJWT string) bool {
	ac, err := jwt.DecodeAccountClaims(accountJWT)
	if err != nil {
		return false
	}
	return ac.Limits.JetStreamLimits.DiskStorage != 0 || ac.Limits.JetStreamLimits.MemoryStorage != 0 || len(ac.Limits.JetStreamTieredLimits) > 0
}

// LeafUser is the user a front's leaf connection binds to an account on its hub with: signed by the account key
// itself (not a role's scoped key), without permission limits, because the leaf connection carries every
// client's traffic of that account; the clients' own permissions are enforced on the front. The JWT is issued
// for each connection attempt and signs the hub's nonce with the returned key pair.
func LeafUser(acc *config.AccountKeys, name string) (userJWT string, kp nkeys.KeyPair, err error) {
	akp, err := nkeys.FromSeed([]byte(acc.Secret.Reveal()))
	if err != nil {
		return "", nil, fmt.Errorf("leaf user: the account secret is not an account seed: run scim-stream bootstrap")
	}
	defer akp.Wipe()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return "", nil, err
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	t, err := uc.Encode(akp)
	if err != nil {
		return "", nil, fmt.Errorf("leaf user %s: %w", name, err)
	}
	return t, ukp, nil
}

// RefreshTemplates returns acc with each role's permission template set to what this version issues (for
// instance the $JS.<HubDomain>.API. forms a cluster needs), keeping every signing key, so credentials issued
// before keep working and gain the new permissions; changed is false when nothing differed.
func RefreshTemplates(op config.Operator, acc *config.AccountKeys, tenant string, typ wire.Type) (*config.AccountKeys, bool, error) {
	ac, err := jwt.DecodeAccountClaims(acc.JWT)
	if err != nil {
		return nil, false, fmt.Errorf("account %s: %w", AccountName(tenant, typ), err)
	}
	changed := false
	for _, k := range ac.SigningKeys.Keys() {
		s, ok := ac.SigningKeys.GetScope(k)
		us, isUser := s.(*jwt.UserScope)
		if !ok || !isUser {
			continue
		}
		want := template(tenant, typ, Role(us.Role))
		w, _ := json.Marshal(want)
		h, _ := json.Marshal(us.Template)
		if string(w) != string(h) {
			us.Template = want
			ac.SigningKeys.AddScopedSigner(us)
			changed = true
		}
	}
	if !changed {
		return acc, false, nil
	}
	out := *acc
	if out.JWT, err = encodeAccount(op, ac); err != nil {
		return nil, false, err
	}
	return &out, true, nil
}

// RoutePassword is the password of the route connections between cluster hubs: derived from the operator seed,
// which every node of the cluster has (the same configuration file), so only nodes of this installation can join.
func RoutePassword(op config.Operator) string {
	m := hmac.New(sha256.New, []byte(op.Secret.Reveal()))
	m.Write([]byte("scim-stream cluster routes"))
	return hex.EncodeToString(m.Sum(nil))
}
