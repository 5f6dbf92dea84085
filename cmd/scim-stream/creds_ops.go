package main

import (
	"fmt"
	"io"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// opsCreds prints a read-only operator credential of the (tenant, typ) account: natscli stream/consumer ls and
// info, kv ls; nothing that reads or changes messages.
func opsCreds(cfgPath, tenant string, typ wire.Type, format string, expires time.Duration, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "scim-stream creds:", err)
		return 1
	}
	if typ == wire.GW {
		return fail(fmt.Errorf("-role ops: the GW account has no streams (request-reply only); use -type entra or -type hr"))
	}
	if format != "creds" {
		return fail(fmt.Errorf("-role ops: -format %q: an ops credential is a .creds file for natscli (-format creds)", format))
	}
	cfg, err := config.Check(cfgPath)
	if err != nil {
		return fail(fmt.Errorf("%s:\n%s", cfgPath, maskedErr(err)))
	}
	acc, err := tenantAccount(cfg, tenant, typ)
	if err != nil {
		return fail(err)
	}
	u, err := natsauth.IssueOps(acc, "ops", expires)
	if err != nil {
		return fail(err)
	}
	fmt.Fprint(stdout, u.Creds())
	fmt.Fprintf(stderr, "issued read-only ops user %s of tenant %s (%s account", u.PublicKey, tenant, typ)
	if expires > 0 {
		fmt.Fprintf(stderr, ", expires %s", time.Now().Add(expires).UTC().Format(time.DateOnly))
	}
	fmt.Fprintf(stderr, ")\nuse it with natscli's --inbox-prefix %s, e.g.:\n  nats --creds ops.creds --tlsca ca.pem --inbox-prefix %s -s %s stream info %s\n",
		natsauth.OpsInbox, natsauth.OpsInbox, clientURLs(cfg, tenant)[0], tenant)
	fmt.Fprintf(stderr, "revoke with: scim-stream revoke -tenant %s -type %s -user %s\n", tenant, typ.Key(), u.PublicKey)
	return 0
}
