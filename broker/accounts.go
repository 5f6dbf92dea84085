package broker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
)

// Account is one account the broker serves (see natsauth.Account).
type Account = natsauth.Account

// Accounts lists every account the broker serves: each tenant's ENTRA, HR and GW account, the channel accounts of
// its configured ENTRA and HR channels, then the state account, in a stable order. natsauth.Accounts is the one
// place that computes it; a cluster front makes one leaf remote per entry.
func Accounts(cfg *config.Config) []Account { return natsauth.Accounts(cfg) }

// storeAccounts puts every configured account JWT into the server's account store. A running server applies a
// changed JWT at once: revoked users and users of removed signing keys are disconnected.
func (b *Broker) storeAccounts(cfg *config.Config) error {
	for _, a := range Accounts(cfg) {
		ac, err := jwt.DecodeAccountClaims(a.Keys.JWT)
		if err != nil {
			return fmt.Errorf("broker: account %s: jwt: %w", a.Name(), err)
		}
		// SaveAcc, not Store: Store skips a JWT whose jti equals the stored one, and the jti only hashes the
		// generic claims, so a revocation encoded in the same second as the previous JWT would be ignored.
		if err := b.resolver.SaveAcc(ac.Subject, a.Keys.JWT); err != nil {
			return fmt.Errorf("broker: account %s: storing the jwt: %w", ac.Name, err)
		}
	}
	return nil
}

// UpdateAccounts applies the configuration's account JWTs to the server (after revoke or rotate). With an external
// server it pushes them through the system account.
func (b *Broker) UpdateAccounts(ctx context.Context, cfg *config.Config) error {
	if b.resolver != nil {
		if err := b.storeAccounts(cfg); err != nil {
			return err
		}
		return b.updateFront(cfg)
	}
	var jwts []string
	for _, a := range Accounts(cfg) {
		jwts = append(jwts, a.Keys.JWT)
	}
	b.mu.Lock()
	urls := b.anyURLs(cfg)
	b.mu.Unlock()
	return PushAccounts(ctx, urls, b.certs.CAPEM, cfg.Nats.Server.Auth.Operator, jwts...)
}

// PushAccounts sends account JWTs to a running server (embedded or external, with a full account resolver) as
// the system account; the server stores and applies them at once.
func PushAccounts(ctx context.Context, urls []string, caPEM []byte, op config.Operator, jwts ...string) error {
	u, err := natsauth.SystemUser(op, 5*time.Minute)
	if err != nil {
		return err
	}
	opts := []nats.Option{nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.Name("scim-stream admin"),
		nats.MaxReconnects(0), nats.Timeout(5 * time.Second)}
	if tc, err := clientTLSConfig(caPEM); err != nil {
		return err
	} else if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(joinURLs(urls), opts...)
	if err != nil {
		return fmt.Errorf("connecting to the NATS server %s as the system account: %w", joinURLs(urls), err)
	}
	defer nc.Close()
	for _, t := range jwts {
		ac, err := jwt.DecodeAccountClaims(t)
		if err != nil {
			return fmt.Errorf("push account: %w", err)
		}
		msg, err := nc.RequestWithContext(ctx, "$SYS.REQ.CLAIMS.UPDATE", []byte(t))
		if err != nil {
			return fmt.Errorf("push account %s: %w", ac.Name, err)
		}
		var r struct {
			Error *struct {
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := jsonUnmarshal(msg.Data, &r); err != nil {
			return fmt.Errorf("push account %s: reply: %w", ac.Name, err)
		}
		if r.Error != nil {
			return fmt.Errorf("push account %s: server refused the jwt: %s", ac.Name, r.Error.Description)
		}
	}
	return nil
}

func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
