package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/demo"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// BenchmarkEndToEndHR measures the whole path as a black box: an imitation SuccessFactors company of b.N people
// (one of them a future hire, not published) → `scim-stream run` (a child process: collector and embedded
// broker) → the bundled gateway (`scim-stream gateway`, another child process) → its store. It reports users/s
// published (the first collection's messages in the stream) and provisioned (acknowledged by the gateway after
// its store commit), each from the first message on; next to them, measured in the same run on a JetStream of
// this process (file storage, no TLS: a generous baseline), the raw rates of async publishing and of
// fetch+ack of as many messages of the same size; the ratios; and the peak resident memory of each process.
//
//	go test -run X -bench EndToEndHR -benchtime 20000x ./cmd/scim-stream
func BenchmarkEndToEndHR(b *testing.B) {
	if b.N < 2 {
		// The testing package's first probe (b.N = 1): a company of one future hire publishes nothing. The size
		// comes with -benchtime Nx.
		return
	}
	people := b.N
	b.Setenv("SEED", "e2e-bench-seed")
	dir := b.TempDir()
	company := successfactors.NewSampleCompany(people, nil)
	api := successfactors.New(company)
	api.AddBasicUser("demo-api", "demo-api-password")
	srv := httptest.NewServer(api)
	defer srv.Close()
	port, err := demo.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o700); err != nil {
		b.Fatal(err)
	}
	cfgText := strings.NewReplacer("{{SF}}", srv.URL).Replace(demo.HRSection) +
		fmt.Sprintf("log:\n  console: true\n  level: info\nnats:\n  server:\n    port: %d\n", port)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		b.Fatal(err)
	}
	var out syncBuffer
	if code := runBootstrap([]string{"-config", cfgPath, "-hr", demo.Tenant}, &out, &out); code != 0 {
		b.Fatalf("bootstrap: %s", out.String())
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	url := fmt.Sprintf("tls://localhost:%d", port)
	ca := filepath.Join(config.CertsDir(cfgPath), config.DefaultCAFile)

	// The gateway's configuration: the store, one entity on HR.SF.
	gwUser, err := natsauth.IssueSubscriber(cfg, demo.Tenant, wire.HR, "HR.SF", wire.DurableName("gateway", "sf"), 0)
	if err != nil {
		b.Fatal(err)
	}
	gwPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(gwPath, []byte(`scimgateway:
  port: 0
  stream:
    baseUrls: [`+url+`]
    certificate: {ca: `+ca+`}
    subscriber:
      enabled: true
      entity:
        sf:
          nats: {tenant: `+demo.Tenant+`, subject: HR.SF, jwt: `+gwUser.JWT+`, secret: `+gwUser.Seed.Reveal()+`}
`), 0o600); err != nil {
		b.Fatal(err)
	}

	logs, err := os.Create(filepath.Join(dir, "processes.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logs.Close()
	child := func(args string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SCIMSTREAM_TEST_MAIN="+args)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}

	// Watchers: a consumer of its own on HR.SF counts what was published; the gateway's consumer what was
	// provisioned (its ack floor: everything up to it is acknowledged, i.e. committed to the store).
	b.ResetTimer()
	began := time.Now()
	run := child("run -config " + cfgPath)
	defer stop(run)
	watch := watchConsumer(b, cfg, url, ca, "HR.SF", "e2e-bench-watch", true)
	gw := child("gateway -config " + gwPath)
	defer stop(gw)
	gwCons := watchConsumer(b, cfg, url, ca, "HR.SF", wire.DurableName("gateway", "sf"), false)

	want := uint64(people - 1) // the sample company's last person is a future hire
	var first, published, provisioned time.Time
	var peakRun, peakGW uint64
	deadline := time.Now().Add(30 * time.Minute)
	for provisioned.IsZero() {
		if time.Now().After(deadline) {
			b.Fatalf("not done within 30 minutes; logs: %s", logs.Name())
		}
		peakRun, peakGW = max(peakRun, peakRSS(run)), max(peakGW, peakRSS(gw))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		wi, err1 := watch.Info(ctx)
		gi, err2 := gwCons.Info(ctx)
		cancel()
		if err1 == nil {
			if wi.NumPending > 0 && first.IsZero() {
				first = time.Now()
			}
			if wi.NumPending >= want && published.IsZero() {
				published = time.Now()
			}
		}
		if err2 == nil && gi.AckFloor.Consumer >= want {
			provisioned = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	peakRun, peakGW = max(peakRun, peakRSS(run)), max(peakGW, peakRSS(gw))
	b.Logf("first message after %s (start-up of run and its broker)", first.Sub(began).Round(time.Millisecond))

	rawPub, rawFetch := rawJetStreamRates(b, people, 1500)
	pubRate := float64(want) / published.Sub(first).Seconds()
	provRate := float64(want) / provisioned.Sub(first).Seconds()
	b.ReportMetric(pubRate, "published-users/s")
	b.ReportMetric(provRate, "provisioned-users/s")
	b.ReportMetric(rawPub, "raw-publish-msgs/s")
	b.ReportMetric(rawFetch, "raw-fetch-ack-msgs/s")
	b.ReportMetric(pubRate/rawPub, "published/raw-publish")
	b.ReportMetric(provRate/rawFetch, "provisioned/raw-fetch-ack")
	b.ReportMetric(float64(peakRun)/(1<<20), "run-peak-RSS-MB")
	b.ReportMetric(float64(peakGW)/(1<<20), "gateway-peak-RSS-MB")
	b.ReportMetric(float64(peakRSS(nil))/(1<<20), "bench-peak-RSS-MB")
}

// watchConsumer is a pull consumer on subject with a subscriber's creds for durable; create makes it (deliver
// all), otherwise it waits until its owner (the gateway) has made it.
func watchConsumer(b *testing.B, cfg *config.Config, url, ca, subject, durable string, create bool) jetstream.Consumer {
	u, err := natsauth.IssueSubscriber(cfg, demo.Tenant, wire.HR, subject, durable, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	nc, err := nats.Connect(url, nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca), nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var cons jetstream.Consumer
		if create {
			cons, err = js.CreateOrUpdateConsumer(ctx, demo.Tenant, jetstream.ConsumerConfig{Durable: durable,
				DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: subject})
		} else {
			cons, err = js.Consumer(ctx, demo.Tenant, durable)
		}
		cancel()
		if err == nil {
			return cons
		}
		if time.Now().After(deadline) {
			b.Fatalf("consumer %s: %v", durable, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peakRSS is a process's peak resident set (VmHWM, Linux); nil: this process. 0 where it cannot be read.
func peakRSS(cmd *exec.Cmd) uint64 {
	path := "/proc/self/status"
	if cmd != nil {
		path = fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// rawJetStreamRates publishes n messages of size bytes asynchronously (at most 512 unacknowledged, the
// collector's window) to a JetStream of this process with file storage, then fetches and acks them in pulls of
// 100 (the gateway's), and returns both rates.
func rawJetStreamRates(b *testing.B, n, size int) (publish, fetchAck float64) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: b.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("raw baseline: nats-server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "raw", Subjects: []string{"RAW.>"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, size)
	start := time.Now()
	var futures []jetstream.PubAckFuture
	for i := range n {
		m := nats.NewMsg("RAW.X")
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, strconv.Itoa(i))
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
		if len(futures) == 512 || i == n-1 {
			for _, f := range futures {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					b.Fatal(err)
				}
			}
			futures = futures[:0]
		}
	}
	publish = float64(n) / time.Since(start).Seconds()
	cons, err := js.CreateConsumer(ctx, "raw", jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	for got := 0; got < n; {
		batch, err := cons.Fetch(min(100, n-got), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.Ack(); err != nil {
				b.Fatal(err)
			}
			got++
		}
	}
	return publish, float64(n) / time.Since(start).Seconds()
}
