package broker

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scim-stream/scim-stream/health"
	"github.com/scim-stream/scim-stream/natsauth"
)

// connHealthOptions log the loss and recovery of SCIM Stream's connection to an account: with an external server
// an outage would otherwise show only as failed collections, minutes later.
func (b *Broker) connHealthOptions(name string) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose (shutdown, tenant removed)
				b.log.Warn("NATS connection lost; reconnecting", "account", name, "error", err)
				b.lost.Store(name, connLoss{err: err.Error(), at: time.Now().UTC()})
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("NATS connection restored", "account", name, "url", nc.ConnectedUrlRedacted())
		}),
	}
}

// connLoss is when and why an account's connection was last lost.
type connLoss struct {
	err string
	at  time.Time
}

// Health is the /readyz check of the broker: the embedded server (when there is one) and every connection SCIM
// Stream holds to an account (publishers and the state client), which in external mode are the link to the
// external server.
func (b *Broker) Health() []health.Part {
	var parts []health.Part
	if b.srv != nil {
		p := health.Part{Kind: "broker", Name: "embedded", State: "running", Ready: true,
			Detail: map[string]any{"url": b.url}}
		if !b.srv.Running() || !b.srv.JetStreamEnabled() {
			p.State, p.Ready = "stopped", false
		}
		parts = append(parts, p)
	}
	b.mu.Lock()
	conns := map[string]*nats.Conn{}
	for k, p := range b.pubs {
		conns[natsauth.AccountName(k.tenant, k.typ)] = p.nc
	}
	if b.state != nil {
		conns[natsauth.AccountName("", natsauth.State)] = b.state.nc
	}
	b.mu.Unlock()
	if len(conns) == 0 {
		parts = append(parts, health.Part{Kind: "nats", Name: "connections", State: "none"})
	}
	for name, nc := range conns {
		st := strings.ToLower(nc.Status().String())
		p := health.Part{Kind: "nats", Name: name, State: st, Ready: nc.IsConnected()}
		if l, ok := b.lost.Load(name); ok && !p.Ready {
			loss := l.(connLoss)
			p.LastError, p.LastErrorAt = loss.err, &loss.at
		}
		if u := nc.ConnectedUrlRedacted(); u != "" && b.srv == nil { // in-process connections have no real URL
			p.Detail = map[string]any{"url": u}
		}
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Name < parts[j].Name })
	return parts
}

// JetStreamCollector reports at scrape time whether each of SCIM Stream's own connections is up (with an external
// server: the link to it), and every stream and durable consumer of the embedded server (not of an external server,
// whose own monitoring serves them): how many messages and bytes a stream holds, how far each durable (each
// subscriber) is behind, how many of its messages were redelivered and when it last acknowledged.
func (b *Broker) JetStreamCollector() prometheus.Collector { return &jsCollector{b: b} }

var (
	streamLabels   = []string{"account", "stream"}
	consumerLabels = []string{"account", "stream", "consumer"}

	descConnUp = prometheus.NewDesc("scimstream_nats_connection_up",
		"1 while SCIM Stream's connection to the account is up, 0 while it reconnects.", []string{"account"}, nil)
	descStreamMessages = prometheus.NewDesc("scimstream_stream_messages",
		"Messages held by the stream.", streamLabels, nil)
	descStreamBytes = prometheus.NewDesc("scimstream_stream_bytes",
		"Bytes held by the stream.", streamLabels, nil)
	descStreamConsumers = prometheus.NewDesc("scimstream_stream_consumers",
		"Consumers (durables) of the stream.", streamLabels, nil)
	descStreamLastSeq = prometheus.NewDesc("scimstream_stream_last_sequence",
		"Sequence number of the stream's last message.", streamLabels, nil)
	descPending = prometheus.NewDesc("scimstream_consumer_pending_messages",
		"Messages of the consumer's filter not delivered yet: how far the subscriber is behind.", consumerLabels, nil)
	descAckPending = prometheus.NewDesc("scimstream_consumer_ack_pending_messages",
		"Messages delivered and not acknowledged yet.", consumerLabels, nil)
	descRedelivered = prometheus.NewDesc("scimstream_consumer_redelivered_messages",
		"Messages delivered more than once and not acknowledged yet.", consumerLabels, nil)
	descDelivered = prometheus.NewDesc("scimstream_consumer_delivered_sequence",
		"Last stream sequence delivered to the consumer.", consumerLabels, nil)
	descAckFloor = prometheus.NewDesc("scimstream_consumer_ack_floor_sequence",
		"Stream sequence up to which every message was acknowledged.", consumerLabels, nil)
	descLastAck = prometheus.NewDesc("scimstream_consumer_last_ack_timestamp_seconds",
		"Unix time of the consumer's last acknowledgement (0: none yet).", consumerLabels, nil)
	descLastActive = prometheus.NewDesc("scimstream_consumer_last_delivery_timestamp_seconds",
		"Unix time of the consumer's last delivery (0: none yet).", consumerLabels, nil)
)

type jsCollector struct {
	b *Broker

	mu    sync.Mutex
	names map[string]string // account public key → account name, from the configured JWTs
	jwts  int
}

func (c *jsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnUp, descStreamMessages, descStreamBytes, descStreamConsumers, descStreamLastSeq,
		descPending, descAckPending, descRedelivered, descDelivered, descAckFloor, descLastAck, descLastActive} {
		ch <- d
	}
}

// accountName names an account by its JWT's name (acme/HR, STATE) rather than its public key.
func (c *jsCollector) accountName(pub string) string {
	cfg := c.b.cfg.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	accs := Accounts(cfg)
	if c.names == nil || c.jwts != len(accs) {
		c.names, c.jwts = map[string]string{}, len(accs)
		for _, a := range accs {
			if ac, err := jwt.DecodeAccountClaims(a.Keys.JWT); err == nil {
				c.names[ac.Subject] = ac.Name
			}
		}
	}
	if n, ok := c.names[pub]; ok {
		return n
	}
	return pub
}

func (c *jsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.b.Health() {
		if p.Kind == "nats" && p.State != "none" {
			up := 0.0
			if p.Ready {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descConnUp, prometheus.GaugeValue, up, p.Name)
		}
	}
	srv := c.b.srv
	if srv == nil || !srv.Running() {
		return
	}
	jsz, err := srv.Jsz(&server.JSzOptions{Accounts: true, Streams: true, Consumer: true, Limit: 100000})
	if err != nil {
		c.b.log.Debug("jetstream metrics: Jsz failed", "error", err)
		return
	}
	unix := func(t *time.Time) float64 {
		if t == nil || t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	for _, acc := range jsz.AccountDetails {
		an := c.accountName(acc.Id)
		for _, s := range acc.Streams {
			gauge(descStreamMessages, float64(s.State.Msgs), an, s.Name)
			gauge(descStreamBytes, float64(s.State.Bytes), an, s.Name)
			gauge(descStreamConsumers, float64(s.State.Consumers), an, s.Name)
			gauge(descStreamLastSeq, float64(s.State.LastSeq), an, s.Name)
			for _, ci := range s.Consumer {
				if ci == nil {
					continue
				}
				l := []string{an, s.Name, ci.Name}
				gauge(descPending, float64(ci.NumPending), l...)
				gauge(descAckPending, float64(ci.NumAckPending), l...)
				gauge(descRedelivered, float64(ci.NumRedelivered), l...)
				gauge(descDelivered, float64(ci.Delivered.Stream), l...)
				gauge(descAckFloor, float64(ci.AckFloor.Stream), l...)
				gauge(descLastAck, unix(ci.AckFloor.Last), l...)
				gauge(descLastActive, unix(ci.Delivered.Last), l...)
			}
		}
	}
}
