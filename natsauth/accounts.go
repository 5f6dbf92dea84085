package natsauth

import (
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// OperatorName is the operator's name in its JWT.
const OperatorName = "SCIM-Stream"

// NewOperator generates the operator and the system account (the account through which account JWT updates are
// pushed to a running server).
func NewOperator() (config.Operator, error) {
	okp, err := nkeys.CreateOperator()
	if err != nil {
		return config.Operator{}, fmt.Errorf("nats operator: %w", err)
	}
	oseed, _ := okp.Seed()
	opub, _ := okp.PublicKey()
	skp, err := nkeys.CreateAccount()
	if err != nil {
		return config.Operator{}, fmt.Errorf("nats system account: %w", err)
	}
	sseed, _ := skp.Seed()
	spub, _ := skp.PublicKey()

	oc := jwt.NewOperatorClaims(opub)
	oc.Name = OperatorName
	oc.SystemAccount = spub
	ojwt, err := oc.Encode(okp)
	if err != nil {
		return config.Operator{}, fmt.Errorf("nats operator jwt: %w", err)
	}
	sc := jwt.NewAccountClaims(spub)
	sc.Name = "SYS"
	sjwt, err := sc.Encode(okp)
	if err != nil {
		return config.Operator{}, fmt.Errorf("nats system account jwt: %w", err)
	}
	return config.Operator{JWT: ojwt, Secret: config.Secret(oseed), SysAccountJWT: sjwt, SysAccountSecret: config.Secret(sseed)}, nil
}

// AccountName is the name in the account JWT of (tenant, typ); the server's log names connections by it.
func AccountName(tenant string, typ wire.Type) string {
	if typ == State {
		return "STATE"
	}
	return tenant + "/" + string(typ)
}

// NewAccount generates the account of (tenant, typ) — typ is ENTRA, HR, GW or State (tenant then ignored) — with
// one scoped signing key per role, signed by the operator.
func NewAccount(op config.Operator, tenant string, typ wire.Type) (*config.AccountKeys, error) {
	if typ != State {
		if err := CheckTenant(tenant); err != nil {
			return nil, err
		}
	}
	roles := Roles(typ)
	if roles == nil {
		return nil, fmt.Errorf("nats account %s: unknown type %q", AccountName(tenant, typ), typ)
	}
	akp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, fmt.Errorf("nats account %s: %w", AccountName(tenant, typ), err)
	}
	apub, _ := akp.PublicKey()
	aseed, _ := akp.Seed()
	ac := jwt.NewAccountClaims(apub)
	ac.Name = AccountName(tenant, typ)
	if typ != wire.GW {
		// GW is core request-reply only; a stream on GW.> would answer requests with publish acks.
		ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
			Streams: jwt.NoLimit, Consumer: jwt.NoLimit, MaxAckPending: jwt.NoLimit}
	}
	keys := &config.AccountKeys{Secret: config.Secret(aseed), Signing: map[string]config.Secret{}}
	for _, r := range roles {
		if r == GWSub {
			seed, err := addPlainSigner(ac)
			if err != nil {
				return nil, err
			}
			keys.Signing[r.ConfigKey()] = config.Secret(seed)
			continue
		}
		seed, err := addSigner(ac, r, template(tenant, typ, r))
		if err != nil {
			return nil, err
		}
		keys.Signing[r.ConfigKey()] = config.Secret(seed)
	}
	if keys.JWT, err = encodeAccount(op, ac); err != nil {
		return nil, err
	}
	return keys, nil
}

// addSigner creates a signing key for r with its template and adds it to ac; it returns the key's seed.
func addSigner(ac *jwt.AccountClaims, r Role, tmpl jwt.UserPermissionLimits) (string, error) {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return "", fmt.Errorf("nats account %s: signing key %s: %w", ac.Name, r, err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	s := jwt.NewUserScope()
	s.Key = pub
	s.Role = string(r)
	s.Template = tmpl
	s.Description = fmt.Sprintf("%s of %s", r, ac.Name)
	ac.SigningKeys.AddScopedSigner(s)
	return string(seed), nil
}

// addPlainSigner adds an unscoped signing key to ac (its users carry their own permissions; see
// responderPermissions) and returns its seed.
func addPlainSigner(ac *jwt.AccountClaims) (string, error) {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return "", fmt.Errorf("nats account %s: signing key %s: %w", ac.Name, GWSub, err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	ac.SigningKeys.Add(pub)
	return string(seed), nil
}

func encodeAccount(op config.Operator, ac *jwt.AccountClaims) (string, error) {
	okp, err := nkeys.FromSeed([]byte(op.Secret.Reveal()))
	if err != nil {
		return "", fmt.Errorf("nats account %s: nats.server.auth.operator.secret is not an operator seed: run scim-stream bootstrap", ac.Name)
	}
	defer okp.Wipe()
	t, err := ac.Encode(okp)
	if err != nil {
		return "", fmt.Errorf("nats account %s: %w", ac.Name, err)
	}
	return t, nil
}

// AccountPublicKey returns the account's public key from its JWT.
func AccountPublicKey(acc *config.AccountKeys) (string, error) {
	ac, err := jwt.DecodeAccountClaims(acc.JWT)
	if err != nil {
		return "", fmt.Errorf("nats account jwt: %w", err)
	}
	return ac.Subject, nil
}

// Revoke returns acc with userPub revoked: every JWT of that user issued up to now is refused, and connections
// using one are closed as soon as the server has the new account JWT.
func Revoke(op config.Operator, acc *config.AccountKeys, userPub string) (*config.AccountKeys, error) {
	if !nkeys.IsValidPublicUserKey(userPub) {
		return nil, fmt.Errorf("revoke %q: not a NATS user public key (U…); the creds file's JWT names it as sub", userPub)
	}
	ac, err := jwt.DecodeAccountClaims(acc.JWT)
	if err != nil {
		return nil, fmt.Errorf("revoke: account jwt: %w", err)
	}
	ac.RevokeAt(userPub, time.Now())
	out := *acc
	if out.JWT, err = encodeAccount(op, ac); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rotate returns acc with role r's signing key replaced by a new one with the same template: every user issued
// with the old key is refused, and their connections are closed as soon as the server has the new account JWT.
func Rotate(op config.Operator, acc *config.AccountKeys, r Role) (*config.AccountKeys, error) {
	ac, err := jwt.DecodeAccountClaims(acc.JWT)
	if err != nil {
		return nil, fmt.Errorf("rotate %s: account jwt: %w", r, err)
	}
	old, ok := acc.Signing[r.ConfigKey()]
	if !ok {
		return nil, fmt.Errorf("rotate %s: account %s has no signing.%s", r, ac.Name, r.ConfigKey())
	}
	okp, err := nkeys.FromSeed([]byte(old.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("rotate %s: account %s: signing.%s is not a seed", r, ac.Name, r.ConfigKey())
	}
	oldPub, _ := okp.PublicKey()
	scope, ok := ac.SigningKeys.GetScope(oldPub)
	us, isUser := scope.(*jwt.UserScope)
	var seed string
	switch {
	case ok && isUser:
		ac.SigningKeys.Remove(oldPub)
		seed, err = addSigner(ac, r, us.Template)
	case ok && scope == nil && r == GWSub:
		ac.SigningKeys.Remove(oldPub)
		seed, err = addPlainSigner(ac)
	default:
		return nil, fmt.Errorf("rotate %s: account %s: signing.%s is not a signing key of the account JWT", r, ac.Name, r.ConfigKey())
	}
	if err != nil {
		return nil, err
	}
	out := config.AccountKeys{Secret: acc.Secret, Signing: map[string]config.Secret{}}
	for k, v := range acc.Signing {
		out.Signing[k] = v
	}
	out.Signing[r.ConfigKey()] = config.Secret(seed)
	if out.JWT, err = encodeAccount(op, ac); err != nil {
		return nil, err
	}
	return &out, nil
}
