package natsauth

import (
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/config"
)

// Ops is the read-only operator role: it lists and inspects an account's streams, consumers and KV buckets
// (natscli stream ls/info, consumer ls/info, kv ls) and nothing else: no publish, no subscription to any data
// subject or to other users' inboxes, no ack, no message get (direct or API), no change to any stream or consumer.
//
// Unlike the other roles it has no signing key of its own (adding one would change every existing account JWT):
// an ops user is signed by the account key with these permissions in its own JWT, and is revoked like any user
// (scim-stream revoke -user).
const Ops Role = "ops"

// OpsInbox is the reply prefix of ops users. It must not be _INBOX: subscribers receive their pulled messages on
// _INBOX.>, and a user allowed to subscribe there could read them. natscli takes it with --inbox-prefix.
const OpsInbox = "_OPS_INBOX"

// opsPermissions allows exactly the JetStream API requests natscli makes for stream ls/info, consumer ls/info, kv ls
// and account info, and their replies.
func opsPermissions() jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add(
		"$SYS.REQ.USER.INFO", // natscli account info: the user's own permissions
		"$JS.API.INFO",
		"$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*",
		"$JS.API.CONSUMER.NAMES.*", "$JS.API.CONSUMER.LIST.*", "$JS.API.CONSUMER.INFO.*.*",
	)
	p.Sub.Allow.Add(OpsInbox + ".>")
	return p
}

// IssueOps issues a read-only operator user of the account acc (see Ops), named name ("" = "ops").
func IssueOps(acc *config.AccountKeys, name string, expires time.Duration) (User, error) {
	ac, err := jwt.DecodeAccountClaims(acc.JWT)
	if err != nil {
		return User{}, fmt.Errorf("issue ops user: account jwt: %w", err)
	}
	akp, err := nkeys.FromSeed([]byte(acc.Secret.Reveal()))
	if err != nil {
		return User{}, fmt.Errorf("issue ops user: account %s: its secret is not an account seed: run scim-stream bootstrap", ac.Name)
	}
	defer akp.Wipe()
	if pub, _ := akp.PublicKey(); pub != ac.Subject {
		return User{}, fmt.Errorf("issue ops user: account %s: its secret does not belong to its jwt: run scim-stream bootstrap", ac.Name)
	}
	if name == "" {
		name = string(Ops)
	}
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return User{}, fmt.Errorf("issue ops user in %s: %w", ac.Name, err)
	}
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	uc.Permissions = opsPermissions()
	// No subscriptions beyond the inbox and no payload: a request body is a few hundred bytes of JSON.
	uc.Limits.Subs = 100
	uc.Limits.Payload = 64 * 1024
	if expires > 0 {
		uc.Expires = time.Now().Add(expires).Unix()
	}
	t, err := uc.Encode(akp)
	if err != nil {
		return User{}, fmt.Errorf("issue ops user in %s: %w", ac.Name, err)
	}
	return User{Name: name, PublicKey: upub, JWT: t, Seed: config.Secret(useed)}, nil
}
