package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// OpenStateKV connects to the running broker as SCIM Stream's state client (a fresh user of the internal state
// account, issued from the configuration) and opens the existing state bucket of (tenant, typ). Commands that
// act on a running process (release) use it: the process reads the bucket at its next collection. The caller
// closes the connection.
func OpenStateKV(ctx context.Context, cfg *config.Config, certsDir, tenant string, typ wire.Type) (jetstream.KeyValue, *nats.Conn, error) {
	keys := cfg.Nats.Server.Auth.State
	if keys == nil || keys.JWT == "" {
		return nil, nil, errors.New("nats.server.auth.state is missing: run scim-stream bootstrap again to add it")
	}
	u, err := natsauth.Issue(keys, natsauth.Pub, natsauth.IssueOptions{Expires: 10 * time.Minute})
	if err != nil {
		return nil, nil, err
	}
	urls := []string{fmt.Sprintf("nats://127.0.0.1:%d", cfg.Nats.Server.Port)}
	if cfg.Nats.Server.UseExternalServer {
		b := &Broker{}
		urls = b.anyURLs(cfg)
	}
	opts := []nats.Option{nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.Name("scim-stream state client"),
		nats.CustomInboxPrefix(natsauth.PublisherInbox), nats.Timeout(5 * time.Second)}
	certs, err := existingCA(certsDir, cfg.Nats.Server.Certificate)
	if err != nil {
		return nil, nil, err
	}
	if tc, err := clientTLSConfig(certs.CAPEM); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certs.CAFile, err)
	} else if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(joinURLs(urls), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the broker at %s (is scim-stream run running?): %w", joinURLs(urls), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	kv, err := js.KeyValue(ctx, StateBucket(tenant, typ))
	if err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, nil, fmt.Errorf("%s tenant %q has no state yet (it never collected)", typ, tenant)
		}
		return nil, nil, fmt.Errorf("state bucket %s: %w", StateBucket(tenant, typ), err)
	}
	return kv, nc, nil
}
