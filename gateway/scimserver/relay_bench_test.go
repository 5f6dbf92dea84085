package scimserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/wire"
)

// BenchmarkRelay measures the same SCIM requests served directly by a responder gateway's HTTP server and
// through publisher -> NATS (TLS, JWT) -> that responder, in the same run: throughput with 8 concurrent
// clients, and p50/p99 latency at a paced 500 requests/s on each path. Report: the relay/direct ratios and the p99 the
// relay adds.
func BenchmarkRelay(b *testing.B) {
	env := brokertest.Start(b, gwTenant)
	st := scimStore(b, "bench")
	for i := range 200 {
		if _, err := st.CreateUser(context.Background(), map[string]any{"userName": fmt.Sprintf("user%03d", i), "active": true}); err != nil {
			b.Fatal(err)
		}
	}
	server := scimserver.NewServer(st, scimserver.ServerOptions{})
	direct := httptest.NewServer(server)
	b.Cleanup(direct.Close)
	directURL := direct.URL

	sjwt, sseed := env.SubscriberCreds(b, gwTenant, wire.GW, gwSubject)
	resp, err := scimserver.NewResponder(env.Connect(b, sjwt, sseed), gwSubject, server, scimserver.ResponderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { resp.Stop(context.Background()) })
	pjwt, pseed := env.GatewayPublisherCreds(b, gwTenant, gwSubject)
	pub := httptest.NewServer(scimserver.NewPublisher(scimserver.PublisherOptions{
		Entities: map[string]scimserver.PublisherEntity{"undefined": {Conn: env.Connect(b, pjwt, pseed), Subject: gwSubject}},
	}))
	b.Cleanup(pub.Close)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	get := func(base string, i int) time.Duration {
		q := url.Values{"filter": {fmt.Sprintf(`userName eq "user%03d"`, i%200)}}
		start := time.Now()
		r, err := hc.Get(base + "/Users?" + q.Encode())
		if err != nil {
			b.Error(err)
			return 0
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			b.Errorf("status %d", r.StatusCode)
		}
		return time.Since(start)
	}
	// throughput: n requests from 8 workers; requests per second.
	throughput := func(base string, n int) float64 {
		var wg sync.WaitGroup
		work := make(chan int)
		start := time.Now()
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					get(base, i)
				}
			}()
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	// paced: n requests on each path at 500/s per path, interleaved (a direct and a relayed request alternate
	// every 1 ms) so that load from elsewhere on the machine hits both alike; latencies sorted per path.
	paced := func(n int) (direct, relayed []time.Duration) {
		lat := make([]time.Duration, 2*n)
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := range 2 * n {
			<-tick.C
			base := pub.URL
			if i%2 == 0 {
				base = directURL
			}
			wg.Add(1)
			go func() { defer wg.Done(); lat[i] = get(base, i/2) }()
		}
		wg.Wait()
		for i, l := range lat {
			if i%2 == 0 {
				direct = append(direct, l)
			} else {
				relayed = append(relayed, l)
			}
		}
		slices.Sort(direct)
		slices.Sort(relayed)
		return direct, relayed
	}
	pct := func(l []time.Duration, p float64) float64 {
		return float64(l[min(len(l)-1, int(float64(len(l))*p))].Microseconds()) / 1000
	}
	n := max(b.N, 200)
	throughput(directURL, 100) // warm up both paths
	throughput(pub.URL, 100)
	b.ResetTimer()
	// Throughput in alternating quarters, for the same reason.
	var dRPS, rRPS float64
	for range 2 {
		dRPS += throughput(directURL, n/2) / 2
		rRPS += throughput(pub.URL, n/2) / 2
	}
	dLat, rLat := paced(n)
	b.StopTimer()
	b.ReportMetric(dRPS, "direct-req/s")
	b.ReportMetric(rRPS, "relay-req/s")
	b.ReportMetric(rRPS/dRPS, "relay/direct-req/s")
	b.ReportMetric(pct(dLat, 0.50), "direct-p50-ms")
	b.ReportMetric(pct(rLat, 0.50), "relay-p50-ms")
	b.ReportMetric(pct(dLat, 0.99), "direct-p99-ms")
	b.ReportMetric(pct(rLat, 0.99), "relay-p99-ms")
	b.ReportMetric(pct(rLat, 0.99)/pct(dLat, 0.99), "relay/direct-p99")
	b.ReportMetric(pct(rLat, 0.99)-pct(dLat, 0.99), "added-p99-ms@500/s")
}
