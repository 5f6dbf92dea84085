package entra

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// BenchmarkInitialLoadPublished10k is BenchmarkInitialLoadPublished100k at a tenth of the size, for a quick look.
func BenchmarkInitialLoadPublished10k(b *testing.B) { benchInitialLoadPublished(b, 10000, 20, 20) }

// BenchmarkInitialLoadPublished100k is the initial-load acceptance: 100,000 users, 5,000 groups nested
// under ten divisions, 20 applications, collected from the imitation over HTTPS and published through the
// collector pipeline into the product's broker (brokertest: TLS, tenant accounts, file store) with channels
// shaped like the documentation's example: application roles by object id, two groups, groups by prefix or a
// role by application name, every e-mail of the domain, and (.*). In the same run, the raw publish baseline
// sends as many messages of the same average size straight to JetStream, pipelined the same way (512 in
// flight). Reported: wall time of the load, messages, the ratio of the two rates, and the peak Go heap above the
// imitation tenant and the broker. Run with -benchtime 1x.
func BenchmarkInitialLoadPublished100k(b *testing.B) { benchInitialLoadPublished(b, 100000, 20, 20) }

func benchInitialLoadPublished(b *testing.B, n, deptSize, apps int) {
	tenant := bigTenant(n, deptSize, apps)
	ts, cfg := benchServer(b, tenant)
	app0 := findApp(b, cfg, ts.Client(), "App 0")
	cfg.Streams = []config.Stream{
		{Channel: "APP1", Rules: []config.Filter{{Filter: `(user.roles.` + app0 + `.value -match ".*")`}}},
		{Channel: "APP2", Rules: []config.Filter{{Filter: `(user.groups.value -match "Dept 1")`}, {Filter: `(user.groups.value -match "Dept 2")`}}},
		{Channel: "APP3", Rules: []config.Filter{{Filter: `(user.groups.display -match "Division 3.*")`}, {Filter: `(user.roles.App 1.value -match "User")`}}},
		{Channel: "APP4", Rules: []config.Filter{{Filter: `(user.emails.work.value -match "*@bench.example")`}}},
		{Channel: "APP5", Rules: []config.Filter{{Filter: `(.*)`}}},
	}
	ct, err := collector.Compile("bench", wire.Entra, cfg)
	if err != nil {
		b.Fatal(err)
	}
	src, err := New("bench", cfg, OptionsFor(ct, Options{HTTPClient: ts.Client()}))
	if err != nil {
		b.Fatal(err)
	}
	env := brokertest.Start(b, "bench")
	js := env.JetStream(b, "bench", wire.Entra)
	p := &collector.Pipeline{JS: js, State: collector.NewState(env.StateKV(b, "bench", wire.Entra)), Progress: time.Hour}
	ctx := context.Background()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	// HeapAlloc includes garbage not yet collected, and with GOGC=100 the collector lets the heap grow to twice
	// what was live, the imitation's 100,000 users included; the live heap after each collection is the
	// memory the load needs.
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	liveBefore := live[0].Value.Uint64()
	heap := sampleHeap()
	peak, peakLive := &heap.peak, &heap.peakLive
	b.ResetTimer()
	start := time.Now()
	timed := &timedSource{Source: src}
	stats, err := p.Collect(ctx, ct, timed, false)
	load := time.Since(start)
	b.StopTimer()
	heap.stop()
	if err != nil || stats.Seen != n || stats.Failed != 0 || !stats.Full {
		b.Fatalf("load: %v (%v)", err, stats)
	}
	info, err := js.Stream(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	st := info.CachedInfo().State
	if int(st.Msgs) != stats.Published {
		b.Fatalf("the stream holds %d messages, the pipeline published %d", st.Msgs, stats.Published)
	}
	avg := int(st.Bytes / st.Msgs)

	// Baseline: as many messages of the average stored size, straight to JetStream, 512 in flight.
	body := make([]byte, max(avg-100, 1)) // the stored size counts subject and headers too
	for i := range body {
		body[i] = 'x'
	}
	start = time.Now()
	var futures []jetstream.PubAckFuture
	for i := range stats.Published {
		m := nats.NewMsg("ENTRA.RAW")
		m.Data = body
		id := fmt.Sprintf("raw-%d", i)
		m.Header.Set("Msg-Id", id)
		m.Header.Set(jetstream.MsgIDHeader, id)
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		if futures = append(futures, f); len(futures) == 512 {
			waitAcks(b, futures)
			futures = futures[:0]
		}
	}
	waitAcks(b, futures)
	raw := time.Since(start)

	b.ReportMetric(load.Seconds(), "s/load")
	b.ReportMetric(float64(stats.Published), "msgs")
	b.ReportMetric(float64(stats.Published)/load.Seconds(), "msgs/s")
	b.ReportMetric(float64(stats.Published)/raw.Seconds(), "raw-msgs/s")
	b.ReportMetric(raw.Seconds()/load.Seconds(), "ratio")
	b.ReportMetric(float64(avg), "bytes/msg")
	b.ReportMetric(float64(peak.Load()-min(before, peak.Load()))/(1<<20), "peak-heap-MB-over-tenant")
	b.ReportMetric(float64(peakLive.Load()-min(liveBefore, peakLive.Load()))/(1<<20), "peak-live-MB-over-tenant")
	b.ReportMetric(timed.inEmit.Seconds(), "pipeline-s")
	b.ReportMetric((load - timed.inEmit).Seconds(), "source-s")
}

// timedSource splits a collection's wall time between the pipeline (the time spent in emit: map, route, publish,
// with back-pressure from the acks) and the rest: the source (Graph requests, directory, records) plus the final
// wait for the last acks, at most 512 records.
type timedSource struct {
	*Source
	inEmit time.Duration
}

func (t *timedSource) Collect(ctx context.Context, cp collector.Checkpoints, emit func(collector.Record) error) (bool, error) {
	return t.Source.Collect(ctx, cp, func(r collector.Record) error {
		start := time.Now()
		err := emit(r)
		t.inEmit += time.Since(start)
		return err
	})
}

func waitAcks(b *testing.B, fs []jetstream.PubAckFuture) {
	for _, f := range fs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
}

// findApp returns the service principal object id of an application of the imitation by display name (the
// channel rules address an application by object id, as the documentation recommends).
func findApp(b *testing.B, cfg *config.Tenant, hc *http.Client, name string) string {
	probe, err := New("probe", cfg, Options{HTTPClient: hc})
	if err != nil {
		b.Fatal(err)
	}
	id := ""
	if _, err := all(context.Background(), probe.c, "/servicePrincipals?$select=id,displayName", func(v []servicePrincipal) error {
		for _, sp := range v {
			if sp.DisplayName == name {
				id = sp.ID
			}
		}
		return nil
	}); err != nil || id == "" {
		b.Fatalf("application %q: %q %v", name, id, err)
	}
	return id
}
