package natsauth

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// User is an issued NATS user: the two halves of a .creds file.
type User struct {
	// Name is the durable (subscribers), the GW channel (gateway users) or a label.
	Name      string
	PublicKey string
	JWT       string
	Seed      config.Secret
}

// Creds is the standard .creds file text (as written by nsc); it holds the seed.
func (u User) Creds() string {
	b, err := jwt.FormatUserConfig(u.JWT, []byte(u.Seed.Reveal()))
	if err != nil {
		// Only an undecodable JWT fails, and Issue never returns one.
		panic(fmt.Sprintf("natsauth: creds of user %s: %v", u.PublicKey, err))
	}
	return string(b)
}

// IssueOptions are the optional parts of a user.
type IssueOptions struct {
	// Name binds the user: for sub_entra/sub_hr the durable consumer it may use ("" = any durable); for
	// gw_pub/gw_sub the GW subject it may request or answer ("GW.APPX"; "" = every GW subject). Ignored for pub.
	Name string
	// Expires is the JWT lifetime; 0 = never.
	Expires time.Duration
	// Seed reuses a user seed (the publisher's configured identity); "" generates a new user key.
	Seed config.Secret
}

// Issue issues a user of role r in account acc, signed by the role's signing key; its permissions are the
// role's template, filled with the name.
func Issue(acc *config.AccountKeys, r Role, o IssueOptions) (User, error) {
	ac, err := jwt.DecodeAccountClaims(acc.JWT)
	if err != nil {
		return User{}, fmt.Errorf("issue %s user: account jwt: %w", r, err)
	}
	sseed, ok := acc.Signing[r.ConfigKey()]
	if !ok {
		return User{}, fmt.Errorf("issue %s user: account %s has no signing.%s (wrong -type for this role?)", r, ac.Name, r.ConfigKey())
	}
	skp, err := nkeys.FromSeed([]byte(sseed.Reveal()))
	if err != nil {
		return User{}, fmt.Errorf("issue %s user: account %s: signing.%s is not an NKey seed", r, ac.Name, r.ConfigKey())
	}
	defer skp.Wipe()
	name, err := boundName(r, o.Name)
	if err != nil {
		return User{}, fmt.Errorf("issue %s user in %s: %w", r, ac.Name, err)
	}
	var ukp nkeys.KeyPair
	if o.Seed != "" {
		ukp, err = nkeys.FromSeed([]byte(o.Seed.Reveal()))
		if err == nil {
			if p, _, _ := nkeys.DecodeSeed([]byte(o.Seed.Reveal())); p != nkeys.PrefixByteUser {
				err = fmt.Errorf("not a user seed")
			}
		}
	} else {
		ukp, err = nkeys.CreateUser()
	}
	if err != nil {
		return User{}, fmt.Errorf("issue %s user in %s: user key: %w", r, ac.Name, err)
	}
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	// A scoped signer's users carry no permissions or limits of their own: the role's template applies. The
	// responder's signing key is not scoped: its permissions are written here (see responderPermissions).
	uc.UserPermissionLimits = jwt.UserPermissionLimits{}
	if r == GWSub {
		uc.UserPermissionLimits = jwt.NewUserClaims(upub).UserPermissionLimits // no limits: subs, data, payload
		uc.Permissions = responderPermissions(name)
	}
	uc.Name = name
	uc.IssuerAccount = ac.Subject
	if o.Expires > 0 {
		uc.Expires = time.Now().Add(o.Expires).Unix()
	}
	t, err := uc.Encode(skp)
	if err != nil {
		return User{}, fmt.Errorf("issue %s user in %s: %w", r, ac.Name, err)
	}
	return User{Name: name, PublicKey: upub, JWT: t, Seed: config.Secret(useed)}, nil
}

// boundName is the user name that the role's template puts into subjects.
func boundName(r Role, name string) (string, error) {
	switch r {
	case SubEntra, SubHR:
		if name == "" {
			return "*", nil
		}
		if strings.ContainsAny(name, ".*> \t") {
			return "", fmt.Errorf("durable %q: a durable name cannot contain '.', '*', '>' or spaces", name)
		}
		return name, nil
	case GWPub, GWSub:
		if name == "" || name == "GW" {
			return ">", nil
		}
		ch, ok := strings.CutPrefix(name, "GW.")
		if !ok || ch == "" || strings.ContainsAny(ch, " \t") {
			return "", fmt.Errorf("subject %q: a gateway subject is GW.<channel>, e.g. GW.APPX", name)
		}
		if strings.HasPrefix(name, ReadOnlyPrefix) && (r == GWSub || strings.ContainsAny(name[len(ReadOnlyPrefix):], "*>") || len(name) == len(ReadOnlyPrefix)) {
			return "", fmt.Errorf("subject %q: %s<channel> is for read-only gw_pub users of one channel; a responder is bound to GW.<channel> and answers both", name, ReadOnlyPrefix)
		}
		return ch, nil
	case Pub:
		if name == "" {
			return "scim-stream", nil
		}
		return name, nil
	}
	return "", fmt.Errorf("unknown role %q", r)
}

// SystemUser issues a short-lived user of the system account, used to push account JWT updates to a running server.
func SystemUser(op config.Operator, ttl time.Duration) (User, error) {
	skp, err := nkeys.FromSeed([]byte(op.SysAccountSecret.Reveal()))
	if err != nil {
		return User{}, fmt.Errorf("nats.server.auth.operator.sys_account_secret is not an account seed: run scim-stream bootstrap")
	}
	defer skp.Wipe()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return User{}, err
	}
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "scim-stream-admin"
	if ttl > 0 {
		uc.Expires = time.Now().Add(ttl).Unix()
	}
	t, err := uc.Encode(skp)
	if err != nil {
		return User{}, fmt.Errorf("system user: %w", err)
	}
	return User{Name: uc.Name, PublicKey: upub, JWT: t, Seed: config.Secret(useed)}, nil
}

// TenantAccount returns the configured account of (tenant, typ ENTRA|HR|GW).
func TenantAccount(cfg *config.Config, tenant string, typ wire.Type) (*config.AccountKeys, error) {
	var a *config.AccountKeys
	if ta := cfg.Nats.Server.Auth.Account[tenant]; ta != nil {
		switch typ {
		case wire.Entra:
			a = ta.Entra
		case wire.HR:
			a = ta.HR
		case wire.GW:
			a = ta.GW
		}
	}
	if a == nil || a.JWT == "" {
		return nil, fmt.Errorf("tenant %q has no %s account in nats.server.auth.account: run scim-stream bootstrap -%s %s",
			tenant, typ, typ.Key(), tenant)
	}
	return a, nil
}

// IssueSubscriber issues a subscriber of subject (ENTRA.APP1, HR.SF, or GW.APPX for a responder) in tenant: a
// user of the channel's account (see SubscriberAccount), for ENTRA/HR a pull subscriber bound to durable ("" =
// any durable), for GW a responder bound to the subject.
func IssueSubscriber(cfg *config.Config, tenant string, typ wire.Type, subject, durable string, expires time.Duration) (User, error) {
	a, err := SubscriberAccount(cfg, tenant, typ, subject)
	if err != nil {
		return User{}, err
	}
	name := durable
	if typ == wire.GW {
		name = subject
	}
	return Issue(a.Keys, SubscriberRole(typ), IssueOptions{Name: name, Expires: expires})
}
