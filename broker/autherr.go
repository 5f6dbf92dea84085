package broker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/natsauth"
)

// watchAuthErrors logs every refused client connection with the user it names: nats-server itself logs only
// "authentication error", which leaves the operator guessing whose credential was revoked or has expired. The
// server publishes each refusal in the system account; this in-process system client turns it into one line.
func (b *Broker) watchAuthErrors() error {
	u, err := natsauth.SystemUser(b.cfg.Load().Nats.Server.Auth.Operator, 0)
	if err != nil {
		return err
	}
	nc, err := nats.Connect("", nats.InProcessServer(b.srv), nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()),
		nats.Name("scim-stream auth watcher"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("broker: system account connection: %w", err)
	}
	if _, err := nc.Subscribe("$SYS.SERVER.*.CLIENT.AUTH.ERR", b.onAuthError); err != nil {
		nc.Close()
		return fmt.Errorf("broker: auth error events: %w", err)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return err
	}
	b.mu.Lock()
	b.sys = nc
	b.mu.Unlock()
	return nil
}

func (b *Broker) onAuthError(m *nats.Msg) {
	var ev struct {
		Client struct {
			JWT  string `json:"jwt"`
			Name string `json:"name"`
			User string `json:"user"`
			Host string `json:"host"`
		} `json:"client"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(m.Data, &ev) != nil {
		return
	}
	attrs := []any{"reason", ev.Reason, "client", ev.Client.Name, "host", ev.Client.Host}
	hint := ""
	if uc, err := jwt.DecodeUserClaims(ev.Client.JWT); err == nil {
		acc := uc.IssuerAccount
		if acc == "" {
			acc = uc.Issuer
		}
		for _, a := range Accounts(b.cfg.Load()) {
			if pub, err := natsauth.AccountPublicKey(a.Keys); err == nil && pub == acc {
				acc = a.Name()
			}
		}
		attrs = append(attrs, "user", uc.Subject, "user_name", uc.Name, "account", acc)
		switch {
		case uc.Expires > 0 && time.Unix(uc.Expires, 0).Before(time.Now()):
			hint = ": the credential expired at " + time.Unix(uc.Expires, 0).UTC().Format(time.RFC3339) + "; issue a new one with scim-stream creds"
		default:
			hint = ": the credential is refused (revoked, its signing key rotated, or not of this operator); issue a new one with scim-stream creds"
		}
	} else if ev.Client.User != "" {
		attrs = append(attrs, "user", ev.Client.User)
	}
	b.log.Warn("nats: refused a client connection"+hint, attrs...)
}
