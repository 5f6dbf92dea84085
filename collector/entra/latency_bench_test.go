package entra_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/collector/entra"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/imitation/graph"
	"github.com/scim-stream/scim-stream/wire"
)

// Latency benchmark parameters: the 200 changes at the documentation example's 5 s interval. One change
// per interval would take 17 minutes; the changes are instead spread at random instants over latencyIntervals
// intervals (20 per interval on average), each on a different user, which samples the same distribution of
// "where in the interval a change falls".
const (
	latencyChanges   = 200
	latencyIntervals = 10
)

// BenchmarkChangeToAckLatency measures, for the documentation's five-channel example (no rule reads initiatedBy,
// so nothing waits for the audit log), the time from a change applied in the imitation tenant to its message
// acknowledged by a subscriber of ENTRA.APP5, with the product's own collection loop (collector.Runner) at the
// configured collect_interval of 5 s. Run it with -benchtime 1x; it takes about a minute.
//
// Reported: p50/p99/max of ack − change (ms), the same relative to the interval, p99 − interval (the issue's
// target is under 200 ms), and the in-run baseline that separates the interval wait from the work: ack − start of
// the collection that found the change (p50/p99, ms).
func BenchmarkChangeToAckLatency(b *testing.B) {
	co := graph.NewCompany(nil)
	users := make([]string, latencyChanges)
	for i := range users {
		nick := fmt.Sprintf("latency.user%03d", i)
		users[i] = co.AddUser(co.Admin, map[string]any{"userPrincipalName": nick + "@mycompany.com", "mail": nick + "@mycompany.com",
			"displayName": "Latency " + nick, "givenName": "Latency", "surname": nick, "jobTitle": "Engineer", "department": "Operations"})
	}
	srv := graph.NewServer(co.Tenant)
	ts := srv.Start()
	defer ts.Close()
	tc := exampleTenant(b, co, srv, ts)
	interval := tc.General.CollectInterval.Every()
	if interval != 5*time.Second {
		b.Fatalf("the example's collect_interval is %v, want 5 s", interval)
	}
	env := brokertest.Start(b, tenantName)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type window struct{ start, end time.Time }
	var mu sync.Mutex
	var collections []window
	collected := make(chan collector.Stats, 100)
	r := &collector.Runner{
		Broker: env.Broker,
		Sources: map[wire.Type]collector.SourceFactory{wire.Entra: func(t *collector.Tenant) (collector.Source, error) {
			return entra.New(t.Name, t.Config, entra.OptionsFor(t, entra.Options{HTTPClient: ts.Client()}))
		}},
		OnCollected: func(_ *collector.Tenant, s collector.Stats, err error) {
			if err != nil {
				b.Errorf("collection: %v", err)
			}
			end := time.Now()
			mu.Lock()
			collections = append(collections, window{end.Add(-s.Duration), end})
			mu.Unlock()
			select {
			case collected <- s:
			default:
			}
		},
	}
	r.Start(ctx)
	defer r.Wait()
	defer cancel()
	if err := r.Apply(&config.Config{Entra: map[string]*config.Tenant{tenantName: tc}}); err != nil {
		b.Fatal(err)
	}
	select { // the initial load
	case s := <-collected:
		if !s.Full || s.Published == 0 {
			b.Fatalf("initial collection: %v", s)
		}
	case <-time.After(time.Minute):
		b.Fatal("no initial collection within a minute")
	}

	// The subscriber: a pull consumer of ENTRA.APP5 that acks each message and waits for the server to confirm.
	jwt, seed := env.SubscriberCreds(b, tenantName, wire.Entra, "")
	js, err := jetstream.New(env.Connect(b, jwt, seed))
	if err != nil {
		b.Fatal(err)
	}
	cons, err := js.CreateConsumer(ctx, tenantName, jetstream.ConsumerConfig{Durable: "durable_latency_APP5",
		DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "ENTRA.APP5"})
	if err != nil {
		b.Fatal(err)
	}
	changed := make([]time.Time, latencyChanges)
	acked := make([]time.Time, latencyChanges)
	done := make(chan struct{})
	n := 0
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var sm wire.Message
		if err := json.Unmarshal(m.Data(), &sm); err != nil {
			b.Errorf("%s: %v", m.Subject(), err)
		}
		if err := m.DoubleAck(ctx); err != nil {
			b.Errorf("ack: %v", err)
			return
		}
		at := time.Now()
		title, _ := sm.User["title"].(string)
		i, err := strconv.Atoi(strings.TrimPrefix(title, "Latency "))
		if err != nil || !strings.HasPrefix(title, "Latency ") || i < 0 || i >= latencyChanges {
			b.Errorf("unexpected message %s for %v (title %q)", sm.ActivityOperation, sm.User["userName"], title)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !acked[i].IsZero() {
			b.Errorf("change %d delivered twice", i)
			return
		}
		acked[i] = at
		if n++; n == latencyChanges {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()

	// Random instants over the span, each change on its own user.
	rng := rand.New(rand.NewPCG(9, 2024))
	span := time.Duration(latencyIntervals) * interval
	offsets := make([]time.Duration, latencyChanges)
	for i := range offsets {
		offsets[i] = time.Duration(rng.Int64N(int64(span)))
	}
	slices.Sort(offsets)
	b.ResetTimer()
	begin := time.Now()
	for i, off := range offsets {
		time.Sleep(time.Until(begin.Add(off)))
		mu.Lock()
		changed[i] = time.Now()
		mu.Unlock()
		if err := co.UpdateUser(co.Admin, users[i], map[string]any{"jobTitle": fmt.Sprintf("Latency %d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(3 * interval):
		mu.Lock()
		got := n
		mu.Unlock()
		b.Fatalf("%d of %d changes acknowledged %v after the last change", got, latencyChanges, 3*interval)
	}
	b.StopTimer()

	mu.Lock()
	defer mu.Unlock()
	lat := make([]time.Duration, latencyChanges)
	work := make([]time.Duration, latencyChanges)
	for i := range lat {
		lat[i] = acked[i].Sub(changed[i])
		// The collection that found the change is the last one started before the ack.
		var start time.Time
		for _, c := range collections {
			if !c.start.After(acked[i]) {
				start = c.start
			}
		}
		work[i] = acked[i].Sub(start)
	}
	slices.Sort(lat)
	slices.Sort(work)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p50, p99 := pct(lat, 50), pct(lat, 99)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(p50.Seconds()/interval.Seconds(), "p50/interval")
	b.ReportMetric(p99.Seconds()/interval.Seconds(), "p99/interval")
	b.ReportMetric(ms(p99-interval), "p99-minus-interval-ms")
	b.ReportMetric(ms(pct(work, 50)), "found-to-ack-p50-ms")
	b.ReportMetric(ms(pct(work, 99)), "found-to-ack-p99-ms")
	b.ReportMetric(float64(len(collections)), "collections")
}

// pct is the nearest-rank percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
