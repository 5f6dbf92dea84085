package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/demo"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// TestMain lets a test start this binary's main in a child process (SCIMSTREAM_TEST_MAIN holds the
// arguments), for tests that kill the process.
func TestMain(m *testing.M) {
	if args := os.Getenv("SCIMSTREAM_TEST_MAIN"); args != "" {
		os.Exit(dispatch(strings.Fields(args), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// hrConfig is the documentation's SuccessFactors tenant against sfURL, with console logging and a broker port.
func hrConfig(sfURL string, port int, extra string) string {
	return strings.NewReplacer("{{SF}}", sfURL).Replace(demo.HRSection) +
		fmt.Sprintf("log:\n  console: true\n  level: debug\nnats:\n  server:\n    port: %d\n", port) + extra
}

// hrFixture is an imitation SuccessFactors (plain HTTP on loopback) and a bootstrapped configuration for it.
type hrFixture struct {
	company *successfactors.Company
	api     *successfactors.Server
	url     string
	dir     string
	cfgPath string
	// offset moves the collectors' clock (not the HR system's).
	offset atomic.Int64
}

func newHRFixture(t *testing.T, people int, extra string) *hrFixture {
	t.Helper()
	t.Setenv("SEED", "run-e2e-seed")
	f := &hrFixture{dir: t.TempDir()}
	f.company = successfactors.NewSampleCompany(people, nil)
	f.api = successfactors.New(f.company)
	f.api.AddBasicUser("demo-api", "demo-api-password")
	srv := httptest.NewServer(f.api)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	port, err := demo.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	f.cfgPath = filepath.Join(f.dir, "config", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(f.cfgPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, []byte(hrConfig(f.url, port, extra)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	if code := runBootstrap([]string{"-config", f.cfgPath, "-hr", demo.Tenant}, &out, &out); code != 0 {
		t.Fatalf("bootstrap: %s", out.String())
	}
	return f
}

func (f *hrFixture) now() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) }

// running is `scim-stream run` in this process.
type running struct {
	env    *runEnv
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

func (f *hrFixture) run(t *testing.T, httpAddr string) *running {
	t.Helper()
	r := &running{out: &syncBuffer{}, done: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	started := make(chan *runEnv, 1)
	go func() {
		r.done <- runOpts(ctx, runOptions{ConfigPath: f.cfgPath, HTTPAddr: httpAddr, Stdout: r.out, Stderr: r.out, Prepare: func(env *runEnv) {
			env.Now = f.now
			env.started = func(env *runEnv) { started <- env }
		}})
	}()
	select {
	case r.env = <-started:
	case code := <-r.done:
		t.Fatalf("run exited %d at start-up:\n%s", code, r.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not start:\n%s", r.out.String())
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	r.cancel()
	select {
	case code := <-r.done:
		if code != 0 {
			t.Errorf("run exited %d:\n%s", code, r.out.String())
		}
		r.done <- code
	case <-time.After(30 * time.Second):
		t.Errorf("run did not stop")
	}
}

// collect runs the HR tenant's next collection now and waits until it finished.
func (r *running) collect(t *testing.T) {
	t.Helper()
	before := strings.Count(r.out.String(), "collection done") + strings.Count(r.out.String(), "collection failed")
	r.env.Runner.Trigger(wire.HR, demo.Tenant)
	waitFor(t, "a collection", 60*time.Second, func() bool {
		return strings.Count(r.out.String(), "collection done")+strings.Count(r.out.String(), "collection failed") > before
	})
}

// received is one message as a subscriber sees it.
type received struct {
	wire.Message
	Subject, MsgID string
}

// subscriber is a pull subscriber on subject with credentials issued the way `scim-stream creds` issues them.
type subscriber struct {
	cons jetstream.Consumer
	nc   *nats.Conn
}

func subscribe(t *testing.T, cfgPath, url, ca, subject, durable string) *subscriber {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	typ, _ := wire.TypeOf(subject)
	u, err := natsauth.IssueSubscriber(cfg, demo.Tenant, typ, subject, durable, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var nc *nats.Conn
	deadline := time.Now().Add(60 * time.Second)
	for nc, err = nats.Connect(url, nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca), nats.MaxReconnects(-1)); err != nil; nc, err = nats.Connect(url, nats.UserJWTAndSeed(u.JWT, u.Seed.Reveal()), nats.RootCAs(ca), nats.MaxReconnects(-1)) {
		if time.Now().After(deadline) {
			t.Fatalf("connect %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var cons jetstream.Consumer
	waitFor(t, "the stream", 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cons, err = js.CreateOrUpdateConsumer(ctx, demo.Tenant, jetstream.ConsumerConfig{Durable: durable,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: subject})
		return err == nil
	})
	return &subscriber{cons: cons, nc: nc}
}

// fetch returns the messages that arrive within wait (acked), at most max.
func (s *subscriber) fetch(t *testing.T, max int, wait time.Duration) []received {
	t.Helper()
	var out []received
	deadline := time.Now().Add(wait)
	for len(out) < max && time.Now().Before(deadline) {
		batch, err := s.cons.Fetch(min(max-len(out), 500), jetstream.FetchMaxWait(time.Until(deadline)))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			var r received
			if err := json.Unmarshal(m.Data(), &r.Message); err != nil {
				t.Fatalf("message %s: %v", m.Data(), err)
			}
			r.Subject, r.MsgID = m.Subject(), m.Headers().Get("Msg-Id")
			out = append(out, r)
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// exactly returns the next n messages and checks that no further one follows shortly after.
func (s *subscriber) exactly(t *testing.T, n int) []received {
	t.Helper()
	got := s.fetch(t, n, 30*time.Second)
	if len(got) == n {
		got = append(got, s.fetch(t, 1, 300*time.Millisecond)...)
	}
	return got
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunHRJoinersMoversLeavers is issue 5's end-to-end case: the SuccessFactors imitation with five current
// employees and a future hire → `scim-stream run` → a pull subscriber on HR.SF.
func TestRunHRJoinersMoversLeavers(t *testing.T) {
	f := newHRFixture(t, 6, "")
	// Activation two days before the start date.
	if err := config.Update(f.cfgPath, config.Change{Path: []string{"hr", demo.Tenant, "general", "hr", "pre_activate_days"}, Value: 2}); err != nil {
		t.Fatal(err)
	}
	r := f.run(t, "")
	sub := subscribe(t, f.cfgPath, r.env.Broker.ClientURL(), r.env.Broker.CAFile(), "HR.SF", "e2e")

	got := sub.exactly(t, 5)
	if len(got) != 5 {
		t.Fatalf("want 5 createUser messages (the future hire waits), got %d", len(got))
	}
	for _, m := range got {
		if m.ActivityOperation != wire.CreateUser || m.MsgID == "" || m.User["userName"] != m.TargetID {
			t.Errorf("not a createUser with Msg-Id for the mapped user: %+v", m)
		}
		if _, ok := m.User["onCreate"].(map[string]any)["userPrincipalName"]; !ok {
			t.Errorf("user %s lacks onCreate.userPrincipalName: %v", m.TargetID, m.User)
		}
	}

	// A mover: one title changes, exactly one modifyUser with one replace of title.
	if err := f.company.SetTitle("1003", "Head of Dog Training"); err != nil {
		t.Fatal(err)
	}
	r.collect(t)
	got = sub.exactly(t, 1)
	if len(got) != 1 || got[0].ActivityOperation != wire.ModifyUser || got[0].TargetID != "1003" {
		t.Fatalf("want one modifyUser for 1003, got %+v", got)
	}
	if ops := got[0].Operations; len(ops) != 1 || ops[0].Op != "replace" || ops[0].Path != "title" || ops[0].Value != "Head of Dog Training" {
		t.Errorf("want one replace of title, got %+v", ops)
	}

	// A leaver: the employment ended yesterday.
	if err := f.company.SetEndDate("1002", time.Now().AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	r.collect(t)
	got = sub.exactly(t, 1)
	if len(got) != 1 || got[0].TargetID != "1002" || got[0].User["active"] != false {
		t.Fatalf("want the leaver 1002 with active:false, got %+v", got)
	}

	// The future hire starts in 14 days: nothing at day 11, published at day 12 (start − pre_activate_days).
	f.offset.Store(int64(11 * 24 * time.Hour))
	r.collect(t)
	if got = sub.fetch(t, 1, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("the future hire was published too early: %+v", got)
	}
	f.offset.Store(int64(12*24*time.Hour + time.Hour))
	r.collect(t)
	got = sub.exactly(t, 1)
	if len(got) != 1 || got[0].ActivityOperation != wire.CreateUser || got[0].TargetID != "1006" || got[0].User["active"] != true {
		t.Fatalf("want the future hire 1006 created active two days before the start, got %+v", got)
	}
}

// mailbox is a real SMTP server (go-smtp) that keeps the messages it receives.
type mailbox struct {
	mu    sync.Mutex
	mails []string
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b}, nil }

type mailSession struct{ b *mailbox }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, string(body))
	s.b.mu.Unlock()
	return err
}

func (b *mailbox) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string{}, b.mails...)
}

// TestRunHRFailuresRetriedCountedAndMailed: the HR API fails with 500s for a whole collection, then throttles
// with 429s; the failed collection is counted in /metrics and mailed at once, the next failure within the
// send interval waits for the next mail (here: the one sent at shutdown), and no user is lost.
func TestRunHRFailuresRetriedCountedAndMailed(t *testing.T) {
	box := &mailbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	email := fmt.Sprintf("email:\n  smtp:\n    host: 127.0.0.1\n    port: %d\n  on_error:\n    enabled: true\n    send_interval: 15\n    to: idm@mycompany.com\n",
		ln.Addr().(*net.TCPAddr).Port)
	f := newHRFixture(t, 4, email)
	// Every attempt of the first collection fails (6 attempts, Retry-After 1 s between them).
	f.api.Fail(6, http.StatusInternalServerError, time.Second)
	r := f.run(t, "127.0.0.1:0")
	sub := subscribe(t, f.cfgPath, r.env.Broker.ClientURL(), r.env.Broker.CAFile(), "HR.SF", "e2e")
	waitFor(t, "the failed collection", 60*time.Second, func() bool { return strings.Contains(r.out.String(), "collection failed") })
	waitFor(t, "the first error mail", 10*time.Second, func() bool { return len(box.all()) == 1 })
	if m := box.all()[0]; !strings.Contains(m, "idm@mycompany.com") || !strings.Contains(m, `hr tenant "mycompany"`) || !strings.Contains(m, "500") {
		t.Errorf("error mail lacks recipient, tenant or status:\n%s", m)
	}
	if got := sub.fetch(t, 1, time.Second); len(got) != 0 {
		t.Fatalf("a failed collection published %d messages", len(got))
	}

	// A second failure within the interval is held for the next mail.
	f.api.Fail(6, http.StatusServiceUnavailable, time.Second)
	r.collect(t)
	time.Sleep(500 * time.Millisecond)
	if n := len(box.all()); n != 1 {
		t.Fatalf("a second error within send_interval sent a mail at once (%d mails)", n)
	}

	// Throttling within a collection is retried: everyone arrives, once.
	f.api.Fail(2, http.StatusTooManyRequests, time.Second)
	r.collect(t)
	got := sub.exactly(t, 3)
	if len(got) != 3 {
		t.Fatalf("want the 3 current employees after the failures, got %d", len(got))
	}
	addr := regexp.MustCompile(`metrics and health endpoint listening.*addr=(\S+)`).FindStringSubmatch(r.out.String())
	if addr == nil {
		t.Fatalf("no metrics address logged:\n%s", r.out.String())
	}
	resp, err := http.Get("http://" + addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`scimstream_collection_errors_total{tenant="mycompany",type="HR"} 2`,
		`scimstream_messages_published_total{tenant="mycompany",type="HR"} 3`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(string(body), "scimstream_"))
		}
	}
	r.stop(t)
	mails := box.all()
	if len(mails) != 2 || !strings.Contains(mails[1], "503") {
		t.Errorf("want the held error in a second mail at shutdown, got %d mails", len(mails))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRunHotReloadAddsChannels: an invalid edit is reported and the running configuration keeps working; a valid edit adding
// a channel takes effect at the next collection.
func TestRunHotReloadAddsChannels(t *testing.T) {
	f := newHRFixture(t, 4, "")
	r := f.run(t, "")
	sf := subscribe(t, f.cfgPath, r.env.Broker.ClientURL(), r.env.Broker.CAFile(), "HR.SF", "e2e")
	if got := sf.exactly(t, 3); len(got) != 3 {
		t.Fatalf("initial load: want 3 messages, got %d", len(got))
	}
	edit := func(old, new string) {
		t.Helper()
		b, err := os.ReadFile(f.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("config lacks %q:\n%s", old, b)
		}
		if err := os.WriteFile(f.cfgPath, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	edit("collect_interval: 5", "collect_interval: 2")
	waitFor(t, "the invalid edit reported", 10*time.Second, func() bool {
		return strings.Contains(r.out.String(), "configuration change not applied") && strings.Contains(r.out.String(), "collect_interval")
	})
	if err := f.company.SetTitle("1002", "Senior Developer"); err != nil {
		t.Fatal(err)
	}
	r.collect(t)
	if got := sf.exactly(t, 1); len(got) != 1 || got[0].TargetID != "1002" {
		t.Fatalf("the previous configuration must keep working after an invalid edit, got %+v", got)
	}

	edit("collect_interval: 2", "collect_interval: 5")
	edit("    streams:\n", "    streams:\n      - channel: CONSULTANTS\n        rules:\n          - filter: (user.title -match \".*Consultant.*\")\n")
	waitFor(t, "the new channel applied", 10*time.Second, func() bool {
		return strings.Contains(r.out.String(), "tenant configuration applied")
	})
	consultants := subscribe(t, f.cfgPath, r.env.Broker.ClientURL(), r.env.Broker.CAFile(), "HR.CONSULTANTS", "e2e-consultants")
	if err := f.company.SetTitle("1003", "Senior Consultant"); err != nil {
		t.Fatal(err)
	}
	r.collect(t)
	got := consultants.exactly(t, 1)
	if len(got) != 1 || got[0].TargetID != "1003" || got[0].User["title"] != "Senior Consultant" {
		t.Fatalf("want 1003 on the new channel HR.CONSULTANTS, got %+v", got)
	}
	if got := sf.exactly(t, 1); len(got) != 1 || got[0].TargetID != "1003" {
		t.Fatalf("HR.SF must get the change too, got %+v", got)
	}
}

// TestRunKilledMidPublishLosesNothing kills `scim-stream run` (SIGKILL, in a child process) while it publishes
// the initial load of 10,000 people, and starts it again: the subscriber receives every user exactly once.
func TestRunKilledMidPublishLosesNothing(t *testing.T) {
	const people = 10000 // the last one is a future hire: 9,999 users are published
	f := newHRFixture(t, people, "")
	f.api.SetLatency(20 * time.Millisecond) // 100 pages: the load takes seconds, so the kill lands mid-way
	cfg, err := config.Load(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("tls://localhost:%d", cfg.Nats.Server.Port)
	ca := filepath.Join(config.CertsDir(f.cfgPath), config.DefaultCAFile)
	logs, err := os.Create(filepath.Join(f.dir, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SCIMSTREAM_TEST_MAIN=run -config "+f.cfgPath)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := start()
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("scim-stream run log:\n%s", b)
		}
	}()
	sub := subscribe(t, f.cfgPath, url, ca, "HR.SF", "e2e")
	var pending uint64
	waitFor(t, "1,000 published messages", 3*time.Minute, func() bool {
		info, err := sub.cons.Info(context.Background())
		if err == nil {
			pending = info.NumPending
		}
		return pending >= 1000
	})
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if pending >= people-1 {
		t.Fatalf("the load finished before the kill (%d messages): the test did not interrupt it", pending)
	}
	t.Logf("killed after %d of %d messages were published", pending, people-1)

	second := start()
	defer func() { _ = second.Process.Kill(); _ = second.Wait() }()
	got := sub.fetch(t, people-1, 5*time.Minute)
	got = append(got, sub.fetch(t, 1, 2*time.Second)...)
	ids, users := map[string]int{}, map[string]int{}
	for _, m := range got {
		ids[m.MsgID]++
		users[m.TargetID]++
	}
	if len(got) != people-1 || len(ids) != people-1 || len(users) != people-1 {
		dup := 0
		for _, n := range users {
			if n > 1 {
				dup++
			}
		}
		t.Fatalf("want %d users once each, got %d messages, %d distinct Msg-Ids, %d distinct users (%d users more than once); log: %s",
			people-1, len(got), len(ids), len(users), dup, logs.Name())
	}
}
