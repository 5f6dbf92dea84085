package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id: a publish retried within it is stored once.
const DuplicateWindow = 24 * time.Hour

var jsonUnmarshal = json.Unmarshal

func clientTLSConfig(caPEM []byte) (*tls.Config, error) {
	if len(caPEM) == 0 {
		return nil, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the CA file holds no PEM certificate")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func joinURLs(urls []string) string { return strings.Join(urls, ",") }

// StreamConfig is the stream of (tenant, typ): named exactly like the tenant (the Node SCIM Gateway looks it up by
// that name), holding typ's subjects, kept for maxAgeDays.
func StreamConfig(tenant string, typ wire.Type, maxAgeDays int) jetstream.StreamConfig {
	if maxAgeDays < 1 {
		maxAgeDays = config.DefaultMaxAgeDays
	}
	return jetstream.StreamConfig{
		Name:        tenant,
		Description: fmt.Sprintf("SCIM Stream %s messages of tenant %s", typ, tenant),
		Subjects:    []string{wire.Subject(typ, ">")},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      time.Duration(maxAgeDays) * 24 * time.Hour,
		Storage:     jetstream.FileStorage,
		Duplicates:  DuplicateWindow,
		Replicas:    1,
	}
}

// ChannelStreamConfig is the stream of a channel account: named like the tenant (the Node SCIM Gateway looks it up
// by that name), holding only the channel's subject <typ>.<channel>.
func ChannelStreamConfig(tenant string, typ wire.Type, channel string, maxAgeDays int) jetstream.StreamConfig {
	sc := StreamConfig(tenant, typ, maxAgeDays)
	sc.Description = fmt.Sprintf("SCIM Stream %s.%s messages of tenant %s", typ, channel, tenant)
	sc.Subjects = []string{wire.Subject(typ, channel)}
	return sc
}

// anyURLs are the external server's URLs of the first tenant (the state account has no tenant). b.mu is held.
func (b *Broker) anyURLs(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Nats.Publisher))
	for n, p := range cfg.Nats.Publisher {
		if p != nil && len(p.URLs) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return []string{config.DefaultPublisherURL}
	}
	return cfg.Nats.Publisher[names[0]].URLs
}

// connect opens SCIM Stream's connection to account a. The user JWT is issued afresh from the current
// configuration at every (re)connect, so a rotated pub signing key only costs a reconnect.
func (b *Broker) connect(cfg *config.Config, a Account) (*publisher, error) {
	name := a.Name()
	var seed config.Secret
	if p := cfg.Nats.Publisher[a.Tenant]; p != nil && a.Type != natsauth.State {
		seed = p.Secret
	}
	u, err := natsauth.Issue(a.Keys, natsauth.Pub, natsauth.IssueOptions{Seed: seed})
	if err != nil {
		return nil, fmt.Errorf("broker: publisher of %s: %w", name, err)
	}
	ukp, err := nkeys.FromSeed([]byte(u.Seed.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("broker: publisher of %s: %w", name, err)
	}
	opts := []nats.Option{
		nats.UserJWT(func() (string, error) {
			keys := accountOf(b.cfg.Load(), a)
			if keys == nil {
				return "", fmt.Errorf("account %s is no longer configured", name)
			}
			u, err := natsauth.Issue(keys, natsauth.Pub, natsauth.IssueOptions{Seed: u.Seed})
			return u.JWT, err
		}, func(nonce []byte) ([]byte, error) { return ukp.Sign(nonce) }),
		nats.Name("scim-stream " + name),
		nats.CustomInboxPrefix(natsauth.PublisherInbox),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		// After revoke/rotate pushed by another process, the first reconnects may be refused until this
		// process has reloaded the configuration; never give up on that.
		nats.IgnoreAuthErrorAbort(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Error("nats publisher connection", "account", name, "error", err)
		}),
	}
	opts = append(opts, b.connHealthOptions(name)...)
	url := ""
	if b.srv != nil {
		opts = append(opts, nats.InProcessServer(b.srv))
	} else {
		urls := b.anyURLs(cfg)
		if p := cfg.Nats.Publisher[a.Tenant]; p != nil && len(p.URLs) > 0 {
			urls = p.URLs
		}
		url = joinURLs(urls)
		if b.url == "" {
			b.url = urls[0]
		}
		if b.clientTLS.RootCAs != nil {
			opts = append(opts, nats.Secure(b.clientTLS.Clone()))
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: connecting the publisher of %s to %s: %w", name, url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("broker: jetstream of %s: %w", name, err)
	}
	return &publisher{nc: nc, js: js}, nil
}

// connectAll connects every configured account not connected yet and brings every stream in line with cfg.
func (b *Broker) connectAll(ctx context.Context, cfg *config.Config) error {
	b.cfg.Store(cfg)
	b.mu.Lock()
	defer b.mu.Unlock()
	// A tenant removed from the configuration loses SCIM Stream's publishers; its stream stays on disk.
	present := map[accountKey]bool{}
	for _, a := range Accounts(cfg) {
		present[accountKey{a.Tenant, a.Type, a.Channel}] = true
	}
	for k, p := range b.pubs {
		if !present[k] {
			p.nc.Close()
			delete(b.pubs, k)
		}
	}
	for _, a := range Accounts(cfg) {
		if a.Type == wire.GW {
			continue // request-reply only: SCIM Stream has no connection there
		}
		if a.Type == natsauth.State {
			if b.state == nil {
				p, err := b.connect(cfg, a)
				if err != nil {
					return err
				}
				b.state = p
			}
			continue
		}
		k := accountKey{a.Tenant, a.Type, a.Channel}
		p := b.pubs[k]
		if p == nil {
			var err error
			if p, err = b.connect(cfg, a); err != nil {
				return err
			}
			b.pubs[k] = p
		}
		maxAge := config.DefaultMaxAgeDays
		if pc := cfg.Nats.Publisher[a.Tenant]; pc != nil && pc.MaxAge > 0 {
			maxAge = pc.MaxAge
		}
		sc := StreamConfig(a.Tenant, a.Type, maxAge)
		if a.Channel != "" {
			sc = ChannelStreamConfig(a.Tenant, a.Type, a.Channel, maxAge)
		}
		sc.Replicas = cfg.Nats.Server.Replicas()
		if err := b.ensureStream(ctx, p.js, sc); err != nil {
			if strings.Contains(err.Error(), "error creating store") && cfg.Nats.Server.EncryptionAtRestKey != "" {
				err = fmt.Errorf("%w (is nats.server.encryption_at_rest_key the key the store was written with?)", err)
			}
			return fmt.Errorf("broker: stream %q in account %s: %w", a.Tenant, a.Name(), err)
		}
	}
	// Every configured channel must have its account: a channel left out would have nowhere to publish.
	for _, a := range Accounts(cfg) {
		if a.Type != wire.Entra && a.Type != wire.HR || a.Channel != "" {
			continue
		}
		for _, ch := range natsauth.Channels(cfg, a.Tenant, a.Type) {
			if b.pubs[accountKey{a.Tenant, a.Type, ch}] == nil {
				if _, err := natsauth.ChannelAccount(cfg.Nats.Server.Auth.Operator, a.Keys, a.Tenant, a.Type, ch); err != nil {
					return fmt.Errorf("broker: %w", err)
				}
				return fmt.Errorf("broker: account %s is not connected", natsauth.ChannelAccountName(a.Tenant, a.Type, ch))
			}
		}
	}
	return nil
}

// ensureStream creates or updates a stream. An account update (rotated pub key) drops the publisher for a moment
// and a request sent just then is lost, so time-outs are retried a few times.
func (b *Broker) ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	if b.cfg.Load().Nats.Server.Cluster != nil {
		return waitForCluster(ctx, b.log, "stream "+sc.Name, func(ctx context.Context) error {
			_, err := js.CreateOrUpdateStream(ctx, sc)
			return err
		})
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.CreateOrUpdateStream(actx, sc)
		cancel()
		if err == nil || ctx.Err() != nil ||
			!(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
				errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting)) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Reload applies a new configuration snapshot: account JWTs (revocations, rotated keys, new tenants), new
// accounts' publishers and streams, and stream settings such as max_age.
func (b *Broker) Reload(ctx context.Context, cfg *config.Config) error {
	if err := b.UpdateAccounts(ctx, cfg); err != nil {
		return err
	}
	return b.connectAll(ctx, cfg)
}

// JetStream is SCIM Stream's publisher context of (tenant, typ); typ is ENTRA or HR. A message to a configured
// channel's subject goes to that channel's account (see channelRouter); other subjects to the (tenant, typ)
// account. Each stream <tenant> de-duplicates Nats-Msg-Id within DuplicateWindow.
func (b *Broker) JetStream(tenant string, typ wire.Type) (jetstream.JetStream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if typ == wire.GW {
		return nil, fmt.Errorf("broker: tenant %q: GW is request-reply without a stream; connect a gateway user instead", tenant)
	}
	p := b.pubs[accountKey{tenant, typ, ""}]
	if p == nil {
		return nil, fmt.Errorf("broker: no %s account for tenant %q in nats.server.auth.account: run scim-stream bootstrap -%s %s",
			typ, tenant, typ.Key(), tenant)
	}
	return &channelRouter{JetStream: p.js, b: b, tenant: tenant, typ: typ}, nil
}

// StateKV returns (creating it when missing) the KV bucket of (tenant, typ) in the internal state account.
func (b *Broker) StateKV(ctx context.Context, tenant string, typ wire.Type) (jetstream.KeyValue, error) {
	if err := natsauth.CheckTenant(tenant); err != nil {
		return nil, fmt.Errorf("broker: state: %w", err)
	}
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	if st == nil {
		return nil, errors.New("broker: nats.server.auth.state is missing: run scim-stream bootstrap again to add it")
	}
	bucket := StateBucket(tenant, typ)
	kv, err := st.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: fmt.Sprintf("SCIM Stream collector state of %s tenant %s", typ, tenant),
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Load().Nats.Server.Replicas(),
	})
	if err != nil {
		return nil, fmt.Errorf("broker: state bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// accountOf returns the current keys of the account that want names; the tenant is ignored for the state account.
func accountOf(cfg *config.Config, want Account) *config.AccountKeys {
	for _, a := range Accounts(cfg) {
		if a.Type == want.Type && a.Channel == want.Channel && (want.Type == natsauth.State || a.Tenant == want.Tenant) {
			return a.Keys
		}
	}
	return nil
}

// StateBucket is the KV bucket name of (tenant, typ).
func StateBucket(tenant string, typ wire.Type) string { return "state_" + tenant + "_" + string(typ) }

// StateJetStream is the JetStream context of the internal state account, the one StateKV's buckets are opened
// with: the collector publishes its state writes to the buckets' subjects asynchronously, as a stream with a
// window of acks rather than one round trip per user.
func (b *Broker) StateJetStream() (jetstream.JetStream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == nil {
		return nil, errors.New("broker: nats.server.auth.state is missing: run scim-stream bootstrap again to add it")
	}
	return b.state.js, nil
}
