package natsauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// Channel accounts.
//
// A subscriber of channel ENTRA.APP1 must read nothing of ENTRA.APP2, yet the Node SCIM Gateway needs to subscribe
// to _INBOX.>, where every pull reply of its account passes. So the boundary is an account per (tenant, type,
// channel): it holds a stream named <tenant> with only that channel's subject, SCIM Stream's publisher publishes
// each routed message there, and `creds -subject ENTRA.APP1` issues a user of that account.
//
// Channel accounts are not stored in config.yaml: their keys are derived (HMAC-SHA256) from the (tenant, type)
// account's keys and the channel name, so every process and node that has the configuration computes the same
// account public key and signing keys, a channel added to entra.<tenant>.streams needs no bootstrap, revoking a
// user in the (tenant, type) account revokes it in its channel accounts too (revocations are copied), and rotating
// a role's signing key of the (tenant, type) account rotates that role in all of its channel accounts.

// Account is one account a broker serves.
type Account struct {
	Tenant string    // "" for the state account
	Type   wire.Type // ENTRA, HR, GW or State
	// Channel is set for a channel account (ENTRA and HR only): the subject is <Type>.<Channel>.
	Channel string
	Keys    *config.AccountKeys
}

// Name is the account's name in its JWT and in the server's log.
func (a Account) Name() string {
	if a.Channel != "" {
		return ChannelAccountName(a.Tenant, a.Type, a.Channel)
	}
	return AccountName(a.Tenant, a.Type)
}

// ChannelAccountName is the name of the account of (tenant, typ, channel).
func ChannelAccountName(tenant string, typ wire.Type, channel string) string {
	return tenant + "/" + string(typ) + "/" + channel
}

// Accounts lists every account a broker (embedded, external, or each node of a cluster) must serve, in a stable
// order: per tenant its ENTRA account and channel accounts, its HR account and channel accounts, its GW account;
// then the state account. It is the one list the broker stores, pushes, exports and connects to.
//
// A channel account whose keys cannot be derived (a broken configuration, reported by Channels' callers) is left
// out.
func Accounts(cfg *config.Config) []Account {
	auth := cfg.Nats.Server.Auth
	names := make([]string, 0, len(auth.Account))
	for n := range auth.Account {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Account
	for _, n := range names {
		ta := auth.Account[n]
		if ta == nil {
			continue
		}
		for _, a := range []Account{{Tenant: n, Type: wire.Entra, Keys: ta.Entra}, {Tenant: n, Type: wire.HR, Keys: ta.HR}, {Tenant: n, Type: wire.GW, Keys: ta.GW}} {
			if a.Keys == nil || a.Keys.JWT == "" {
				continue
			}
			if k, err := currentRoles(auth.Operator, n, a.Type, a.Keys); err == nil {
				a.Keys = k
			}
			out = append(out, a)
			for _, ch := range Channels(cfg, n, a.Type) {
				keys, err := ChannelAccount(auth.Operator, a.Keys, n, a.Type, ch)
				if err == nil {
					out = append(out, Account{Tenant: n, Type: a.Type, Channel: ch, Keys: keys})
				}
			}
		}
	}
	if auth.State != nil && auth.State.JWT != "" {
		out = append(out, Account{Type: State, Keys: auth.State})
	}
	return out
}

// Channels are the configured channels of (tenant, typ): entra.<tenant>.streams[].channel or hr.<tenant>…, sorted.
// GW has none (its subjects are separated by permissions, see template).
func Channels(cfg *config.Config, tenant string, typ wire.Type) []string {
	var t *config.Tenant
	switch typ {
	case wire.Entra:
		t = cfg.Entra[tenant]
	case wire.HR:
		t = cfg.HR[tenant]
	}
	if t == nil {
		return nil
	}
	var out []string
	for _, s := range t.Streams {
		if s.Channel != "" && !contains(out, s.Channel) {
			out = append(out, s.Channel)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ChannelOf returns the channel of subject for typ ("ENTRA.APP1" → "APP1") when it names exactly one channel
// (no wildcard).
func ChannelOf(typ wire.Type, subject string) (string, bool) {
	ch, ok := strings.CutPrefix(subject, string(typ)+".")
	if !ok || ch == "" || strings.ContainsAny(ch, "*> \t") {
		return "", false
	}
	return ch, true
}

// channelCache keeps derived channel accounts: encoding a JWT per call would change it (issued-at) at every
// reload and cost a signature per reconnect.
var channelCache sync.Map // key string → *config.AccountKeys

// ChannelAccount derives the account of (tenant, typ, channel) from parent, the (tenant, typ) account, and signs
// its JWT with the operator. Same inputs, same keys: see the package comment on channel accounts.
func ChannelAccount(op config.Operator, parent *config.AccountKeys, tenant string, typ wire.Type, channel string) (*config.AccountKeys, error) {
	name := ChannelAccountName(tenant, typ, channel)
	if typ != wire.Entra && typ != wire.HR {
		return nil, fmt.Errorf("nats account %s: only ENTRA and HR have channel accounts", name)
	}
	if parent == nil || parent.JWT == "" {
		return nil, fmt.Errorf("nats account %s: tenant %q has no %s account: run scim-stream bootstrap -%s %s",
			name, tenant, typ, typ.Key(), tenant)
	}
	ck := cacheKey(op.JWT, parent, channel)
	if v, ok := channelCache.Load(ck); ok {
		return v.(*config.AccountKeys), nil
	}
	pc, err := jwt.DecodeAccountClaims(parent.JWT)
	if err != nil {
		return nil, fmt.Errorf("nats account %s: account jwt of %s: %w", name, AccountName(tenant, typ), err)
	}
	akp, err := derive(parent.Secret, "account", channel, nkeys.PrefixByteAccount)
	if err != nil {
		return nil, fmt.Errorf("nats account %s: nats.server.auth.account.%s.%s.secret: %w", name, tenant, typ.Key(), err)
	}
	apub, _ := akp.PublicKey()
	aseed, _ := akp.Seed()
	ac := jwt.NewAccountClaims(apub)
	ac.Name = name
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
		Streams: jwt.NoLimit, Consumer: jwt.NoLimit, MaxAckPending: jwt.NoLimit}
	// Users revoked in the (tenant, type) account are revoked here too: `revoke` edits the parent only.
	for k, v := range pc.Revocations {
		if ac.Revocations == nil {
			ac.Revocations = jwt.RevocationList{}
		}
		ac.Revocations[k] = v
	}
	keys := &config.AccountKeys{Secret: config.Secret(aseed), Signing: map[string]config.Secret{}}
	for _, r := range Roles(typ) {
		ps, ok := parent.Signing[r.ConfigKey()]
		if !ok {
			continue
		}
		skp, err := derive(ps, "signing."+string(r), channel, nkeys.PrefixByteAccount)
		if err != nil {
			return nil, fmt.Errorf("nats account %s: nats.server.auth.account.%s.%s.signing.%s: %w", name, tenant,
				typ.Key(), r.ConfigKey(), err)
		}
		spub, _ := skp.PublicKey()
		sseed, _ := skp.Seed()
		s := jwt.NewUserScope()
		s.Key = spub
		s.Role = string(r)
		s.Template = template(tenant, typ, r)
		s.Description = fmt.Sprintf("%s of %s", r, name)
		ac.SigningKeys.AddScopedSigner(s)
		keys.Signing[r.ConfigKey()] = config.Secret(sseed)
	}
	if keys.JWT, err = encodeAccount(op, ac); err != nil {
		return nil, err
	}
	channelCache.Store(ck, keys)
	return keys, nil
}

func cacheKey(opJWT string, parent *config.AccountKeys, channel string) string {
	h := sha256.New()
	h.Write([]byte(opJWT))
	h.Write([]byte{0})
	h.Write([]byte(parent.JWT))
	h.Write([]byte{0})
	h.Write([]byte(parent.Secret.Reveal()))
	for _, k := range sortedKeys(parent.Signing) {
		h.Write([]byte{0})
		h.Write([]byte(k + "=" + parent.Signing[k].Reveal()))
	}
	h.Write([]byte{0})
	h.Write([]byte(channel))
	return string(h.Sum(nil))
}

func sortedKeys(m map[string]config.Secret) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// derive makes a key pair of kind prefix from a parent seed, a purpose and a channel.
func derive(parent config.Secret, purpose, channel string, prefix nkeys.PrefixByte) (nkeys.KeyPair, error) {
	_, raw, err := nkeys.DecodeSeed([]byte(parent.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("not an NKey seed: run scim-stream bootstrap")
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("scim-stream channel account\x00" + purpose + "\x00" + channel))
	return nkeys.FromRawSeed(prefix, mac.Sum(nil))
}

// SubscriberAccount is the account a subscriber of subject in (tenant, typ) belongs to: the channel account
// when subject names one configured channel; for a wildcard subject, the channel account of the single
// configured channel it matches. ENTRA/HR subjects that match no configured channel, or several, and GW
// subjects stay in the (tenant, typ) account — but for ENTRA/HR the broker publishes nothing there while
// channels are configured, so that is refused with the channels named.
func SubscriberAccount(cfg *config.Config, tenant string, typ wire.Type, subject string) (Account, error) {
	parent, err := TenantAccount(cfg, tenant, typ)
	if err != nil {
		return Account{}, err
	}
	base := Account{Tenant: tenant, Type: typ, Keys: parent}
	if typ == wire.GW {
		return base, nil
	}
	chans := Channels(cfg, tenant, typ)
	if len(chans) == 0 {
		return base, nil
	}
	var match []string
	for _, ch := range chans {
		if subjectMatches(subject, wire.Subject(typ, ch)) {
			match = append(match, ch)
		}
	}
	if len(match) != 1 {
		what := "matches none"
		if len(match) > 1 {
			what = "matches several (" + strings.Join(match, ", ") + ")"
		}
		return Account{}, fmt.Errorf("subject %q %s of the channels of %s tenant %q (%s): each channel is its own "+
			"NATS account, so issue one credential per channel with -subject %s.<channel> (the Node SCIM Gateway: one entity per channel)",
			subject, what, typ, tenant, strings.Join(chans, ", "), typ)
	}
	keys, err := ChannelAccount(cfg.Nats.Server.Auth.Operator, parent, tenant, typ, match[0])
	if err != nil {
		return Account{}, err
	}
	return Account{Tenant: tenant, Type: typ, Channel: match[0], Keys: keys}, nil
}

// subjectMatches reports whether the literal subject lit matches the (possibly wildcard) filter.
func subjectMatches(filter, lit string) bool {
	f, l := strings.Split(filter, "."), strings.Split(lit, ".")
	for i, t := range f {
		if t == ">" {
			return i < len(l)
		}
		if i >= len(l) || (t != "*" && t != l[i]) {
			return false
		}
	}
	return len(f) == len(l)
}

// currentRoles returns the account with every role's signing key carrying today's permissions: scoped keys the
// current template (so a permission added to template — e.g. the JetStream domain forms of a cluster — applies to
// users issued long ago without a re-bootstrap), and the gw_sub key unscoped (see responderPermissions; accounts
// bootstrapped before responders got queue permissions have it scoped). Keys, revocations and everything else stay,
// so credentials already issued keep working under the current rules. Unchanged accounts are returned as they are.
func currentRoles(op config.Operator, tenant string, typ wire.Type, keys *config.AccountKeys) (*config.AccountKeys, error) {
	ck := "roles\x00" + cacheKey(op.JWT, keys, "")
	if v, ok := channelCache.Load(ck); ok {
		return v.(*config.AccountKeys), nil
	}
	ac, err := jwt.DecodeAccountClaims(keys.JWT)
	if err != nil {
		return nil, err
	}
	changed := false
	for _, r := range Roles(typ) {
		seed, ok := keys.Signing[r.ConfigKey()]
		if !ok {
			continue
		}
		kp, err := nkeys.FromSeed([]byte(seed.Reveal()))
		if err != nil {
			return nil, err
		}
		pub, _ := kp.PublicKey()
		scope, ok := ac.SigningKeys.GetScope(pub)
		if !ok {
			continue
		}
		us, _ := scope.(*jwt.UserScope)
		switch {
		case r == GWSub:
			if scope != nil {
				ac.SigningKeys.Remove(pub)
				ac.SigningKeys.Add(pub)
				changed = true
			}
		case us != nil:
			want := template(tenant, typ, r)
			if !reflect.DeepEqual(us.Template, want) {
				us.Template = want
				changed = true
			}
		}
	}
	out := keys
	if changed {
		cp := *keys
		if cp.JWT, err = encodeAccount(op, ac); err != nil {
			return nil, err
		}
		out = &cp
	}
	channelCache.Store(ck, out)
	return out, nil
}
