package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	jwtv2 "github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/scim-stream/scim-stream/broker"
	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/health"
	"github.com/scim-stream/scim-stream/internal/demo"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// httpGet returns the status and body of a GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// readyz returns /readyz's status code and decoded body.
func readyz(t *testing.T, base string) (int, health.Report, string) {
	t.Helper()
	code, body := httpGet(t, base+"/readyz")
	var rep health.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/readyz body is not a report: %v\n%s", err, body)
	}
	return code, rep, body
}

func part(rep health.Report, kind, name string) *health.Part {
	for i, p := range rep.Parts {
		if p.Kind == kind && p.Name == name {
			return &rep.Parts[i]
		}
	}
	return nil
}

// lintMetrics runs promlint (the linter of `promtool check metrics`) over a /metrics body.
func lintMetrics(t *testing.T, body string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promtool check metrics: %s: %s", p.Metric, p.Text)
	}
}

var listenRE = regexp.MustCompile(`metrics and health endpoint listening.*addr=(\S+)`)

// TestRunHealthMetricsAndPromlint runs the main job with its HTTP listener against the SuccessFactors imitation:
// /readyz names the embedded broker, SCIM Stream's NATS connections and the tenant; a subscriber that is behind
// shows in the stream and consumer metrics; /metrics of the running instance passes promtool's linter; the HR
// system failing makes the tenant "failing" (still ready) and, when the retry budget is spent, /readyz 503;
// a successful collection makes it ready again. /healthz stays 200 throughout.
func TestRunHealthMetricsAndPromlint(t *testing.T) {
	f := newHRFixture(t, 4, "")
	r := f.run(t, "127.0.0.1:0")
	m := listenRE.FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatalf("no listener address logged:\n%s", r.out.String())
	}
	base := "http://" + m[1]
	waitFor(t, "the first collection", 60*time.Second, func() bool { return strings.Contains(r.out.String(), "collection done") })

	code, rep, body := readyz(t, base)
	if code != 200 || rep.Status != "ready" {
		t.Fatalf("/readyz %d:\n%s", code, body)
	}
	tenant := part(rep, "tenant", "HR/"+demo.Tenant)
	if tenant == nil || tenant.State != "ok" || tenant.LastSuccess == nil {
		t.Errorf("tenant part %+v", tenant)
	}
	if b := part(rep, "broker", "embedded"); b == nil || b.State != "running" || !b.Ready {
		t.Errorf("broker part %+v", b)
	}
	for _, acc := range []string{demo.Tenant + "/HR", "STATE"} {
		if c := part(rep, "nats", acc); c == nil || c.State != "connected" || !c.Ready {
			t.Errorf("nats part %s: %+v", acc, c)
		}
	}
	t.Logf("ready:\n%s", body)

	// A subscriber that took one of the three messages and is two behind.
	sub := subscribe(t, f.cfgPath, r.env.Broker.ClientURL(), r.env.Broker.CAFile(), "HR.SF", "behind")
	if got := sub.fetch(t, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("fetched %d", len(got))
	}
	var metrics string
	waitFor(t, "the acknowledgement in the consumer metrics", 10*time.Second, func() bool {
		_, metrics = httpGet(t, base+"/metrics")
		return strings.Contains(metrics, `scimstream_consumer_ack_pending_messages{account="mycompany/HR/SF",consumer="behind",stream="mycompany"} 0`)
	})
	for _, want := range []string{
		`scimstream_stream_messages{account="mycompany/HR/SF",stream="mycompany"} 3`,
		`scimstream_consumer_pending_messages{account="mycompany/HR/SF",consumer="behind",stream="mycompany"} 2`,
		`scimstream_consumer_ack_floor_sequence{account="mycompany/HR/SF",consumer="behind",stream="mycompany"} 1`,
		`scimstream_collections_total{tenant="mycompany",type="HR"} 1`,
		`scimstream_tenant_running{tenant="mycompany",type="HR"} 1`,
		`scimstream_nats_connection_up{account="mycompany/HR"} 1`,
		`scimstream_nats_connection_up{account="STATE"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "scimstream_"))
		}
	}
	if !regexp.MustCompile(`scimstream_consumer_last_ack_timestamp_seconds\{account="mycompany/HR/SF",consumer="behind",stream="mycompany"\} 1\.[0-9e+]+`).MatchString(metrics) {
		t.Errorf("no last-ack time for the durable:\n%s", grepLines(metrics, "last_ack"))
	}
	lintMetrics(t, metrics)

	// The HR system fails: within the retry budget the tenant is failing but ready.
	f.api.Fail(6, http.StatusServiceUnavailable, time.Second)
	r.collect(t)
	code, rep, body = readyz(t, base)
	if tp := part(rep, "tenant", "HR/"+demo.Tenant); code != 200 || tp == nil || tp.State != "failing" || tp.Failures != 1 ||
		!strings.Contains(tp.LastError, "503") {
		t.Errorf("after one failed collection /readyz %d:\n%s", code, body)
	}
	t.Logf("source down, within budget:\n%s", body)
	for i := 0; i < 2; i++ {
		f.api.Fail(1, http.StatusBadRequest, 0)
		r.collect(t)
	}
	code, rep, body = readyz(t, base)
	if tp := part(rep, "tenant", "HR/"+demo.Tenant); code != http.StatusServiceUnavailable || rep.Status != "not ready" ||
		tp == nil || tp.Ready || tp.Failures != 3 {
		t.Errorf("after three failed collections /readyz %d:\n%s", code, body)
	}
	t.Logf("source down, budget spent:\n%s", body)
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d while not ready", code)
	}
	r.collect(t)
	if code, _, body := readyz(t, base); code != 200 {
		t.Errorf("after a successful collection /readyz %d:\n%s", code, body)
	}
}

// TestGatewayHealthMetricsAndPromlint runs `scim-stream gateway` (store endpoint, SCIM server on) with its health
// listener: /readyz names the subscriber, its connection and the endpoint; /metrics counts the applied message
// and the SCIM requests and passes promtool's linter; when the broker goes away /readyz answers 503 naming the
// subscriber's state, and the loss is logged.
func TestGatewayHealthMetricsAndPromlint(t *testing.T) {
	t.Setenv("SEED", "cmd-gateway-health-test")
	env := brokertest.Start(t, "acme")
	jwt, seed := env.SubscriberCreds(t, "acme", wire.HR, wire.DurableName("gateway", "undefined"))
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	scimPort := testPort(t)
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`scimgateway:
  port: %d
  localhostonly: true
  auth:
    basic: [{username: gwadmin, password: gwpassword}]
  stream:
    baseUrls: [%s]
    certificate: {ca: %s}
    subscriber:
      enabled: true
      entity:
        undefined:
          nats: {tenant: acme, subject: HR.SF, jwt: %s, secret: %s}
`, scimPort, env.URL(), env.CAFile(), jwt, seed)), 0o600); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("HR.SF")
	m.Header.Set("Msg-Id", "health-1")
	m.Data, _ = json.Marshal(wire.Message{ActivityOperation: wire.CreateUser, Operations: []scim.Operation{},
		User: scim.User{"userName": "health@acme.com", "active": true}})
	if _, err := env.JetStream(t, "acme", wire.HR).PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	addrCh := make(chan string, 1)
	go func() {
		done <- gatewayOpts(ctx, gatewayRun{ConfigPath: cfgPath, Level: "info", HTTPAddr: "127.0.0.1:0",
			Stdout: &out, Stderr: &errOut, listening: func(a string) { addrCh <- a }})
	}()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case code := <-done:
		t.Fatalf("gateway exited %d:\n%s\n%s", code, out.String(), errOut.String())
	case <-time.After(20 * time.Second):
		t.Fatal("no health listener")
	}
	waitFor(t, "the message applied", 20*time.Second, func() bool { return strings.Contains(out.String(), "userName=health@acme.com") })
	waitFor(t, "the SCIM listener", 20*time.Second, func() bool { return strings.Contains(out.String(), "SCIM HTTP listening") })

	code, rep, body := readyz(t, base)
	sub := part(rep, "subscriber", "undefined")
	if code != 200 || sub == nil || sub.State != "consuming" || sub.LastSuccess == nil || sub.Detail["connection"] != "connected" {
		t.Errorf("/readyz %d:\n%s", code, body)
	}
	if ep := part(rep, "endpoint", "store"); ep == nil || !ep.Ready || ep.LastSuccess == nil {
		t.Errorf("endpoint part %+v", ep)
	}
	t.Logf("gateway ready:\n%s", body)

	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/Users?filter=userName%%20eq%%20%%22health@acme.com%%22", scimPort), nil)
	req.SetBasicAuth("gwadmin", "gwpassword")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("SCIM GET /Users: %d", resp.StatusCode)
	}
	_, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`scimstream_gateway_messages_total{endpoint="store",entity="undefined",result="applied"} 1`,
		`scimstream_gateway_messages_total{endpoint="store",entity="undefined",result="retry"} 0`,
		`scimstream_gateway_message_apply_duration_seconds_count{endpoint="store",entity="undefined"} 1`,
		`scimstream_gateway_scim_requests_total{code="200",method="get"} 1`,
		`scimstream_gateway_scim_request_duration_seconds_count{method="get"} 1`,
		`scimstream_gateway_scim_request_duration_seconds_count{method="patch"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "scimstream_"))
		}
	}
	lintMetrics(t, metrics)

	// The broker goes away: not ready, the subscriber names why, the loss is logged.
	env.Broker.Shutdown()
	var sub2 *health.Part
	waitFor(t, "/readyz 503 after the broker stopped", 30*time.Second, func() bool {
		code, rep, body = readyz(t, base)
		sub2 = part(rep, "subscriber", "undefined")
		// The pull fails at once; the client notices the lost connection a moment later.
		return code == http.StatusServiceUnavailable && sub2 != nil && sub2.Detail["connection"] != "connected"
	})
	if sub2 == nil || sub2.Ready || sub2.Detail["connection"] == "connected" {
		t.Errorf("subscriber part with the broker down: %+v", sub2)
	}
	t.Logf("gateway, broker down:\n%s", body)
	waitFor(t, "the loss logged", 10*time.Second, func() bool { return strings.Contains(out.String(), "disconnected from the broker") })
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d with the broker down", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("gateway exited %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop")
	}
}

// TestExternalBrokerLossLoggedAndReported: with use_external_server, a stock nats-server that stops makes every
// SCIM Stream connection part of /readyz not ready ("reconnecting") and logs the loss once per connection; when the
// server is back the connections recover, the recovery is logged and the parts are ready again.
func TestExternalBrokerLossLoggedAndReported(t *testing.T) {
	path, cfg := bootstrapped(t, "-hr", "acme")
	out := filepath.Join(t.TempDir(), "external")
	mustCLI(t, "export-nats", "-config", path, "-out", out)
	bin := stockNatsServer(t)
	start := func() *proc {
		p := startProc(t, bin, out, "-c", filepath.Join(out, "nats-server.conf"))
		waitFor(t, "nats-server ready", 20*time.Second, func() bool {
			if !p.alive() {
				t.Fatalf("nats-server exited:\n%s", p.err.String())
			}
			return strings.Contains(p.err.String()+p.out.String(), "Server is ready")
		})
		return p
	}
	srv := start()
	cfg.Nats.Server.UseExternalServer = true
	cfg.Nats.Publisher["acme"].URLs = []string{"nats://127.0.0.1:" + itoa(cfg.Nats.Server.Port)}
	var logBuf syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{StoreDir: filepath.Join(t.TempDir(), "unused"), CertsDir: config.CertsDir(path),
		Logger: config.NewWriterLogger(&logBuf, "info")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	checks := &health.Registry{}
	checks.Add(b.Health)
	rep := checks.Report()
	if rep.Status != "ready" || part(rep, "nats", "acme/HR") == nil || part(rep, "nats", "STATE") == nil || part(rep, "broker", "embedded") != nil {
		t.Fatalf("external broker report %+v", rep)
	}

	if err := srv.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	srv.exitCode(t, 20*time.Second)
	waitFor(t, "not ready after the server stopped", 20*time.Second, func() bool { rep = checks.Report(); return rep.Status == "not ready" })
	if p := part(rep, "nats", "acme/HR"); p == nil || p.Ready || p.State != "reconnecting" {
		t.Errorf("acme/HR with the server down: %+v", p)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.JetStreamCollector())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP scimstream_nats_connection_up 1 while SCIM Stream's connection to the account is up, 0 while it reconnects.
# TYPE scimstream_nats_connection_up gauge
scimstream_nats_connection_up{account="STATE"} 0
scimstream_nats_connection_up{account="acme/HR"} 0
`)); err != nil {
		t.Errorf("connection metric with the server down: %v", err)
	}
	body, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("external server down:\n%s", body)
	waitFor(t, "the loss logged", 10*time.Second, func() bool {
		return strings.Count(logBuf.String(), "NATS connection lost") == 3 // acme/HR, its channel account acme/HR/SF and STATE
	})

	start()
	waitFor(t, "ready after the server is back", 30*time.Second, func() bool { return checks.Report().Status == "ready" })
	waitFor(t, "the recovery logged", 10*time.Second, func() bool {
		return strings.Count(logBuf.String(), "NATS connection restored") == 2
	})
	if !strings.Contains(logBuf.String(), "level=WARN msg=\"NATS connection lost; reconnecting\" account=acme/HR") {
		t.Errorf("loss not logged as a WARN naming the account:\n%s", logBuf.String())
	}
}

// TestGatewayEndpointDownAndBehind: the upstream SCIM application answers 503: the endpoint part is failing and
// /readyz 503, the subscriber still consumes and shows the messages held for a retry (the failed one and the two
// behind it, all pulled at once), and the retries are counted.
func TestGatewayEndpointDownAndBehind(t *testing.T) {
	t.Setenv("SEED", "cmd-gateway-endpoint-down-test")
	env := brokertest.Start(t, "acme")
	jwt, seed := env.SubscriberCreds(t, "acme", wire.HR, wire.DurableName("gateway", "undefined"))
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer upstream.Close()
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`scimgateway:
  port: 0
  stream:
    baseUrls: [%s]
    certificate: {ca: %s}
    subscriber:
      enabled: true
      entity:
        undefined:
          nats: {tenant: acme, subject: HR.SF, jwt: %s, secret: %s}
endpoint:
  type: scim
  base_urls: [%s]
`, env.URL(), env.CAFile(), jwt, seed, upstream.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		m := nats.NewMsg("HR.SF")
		m.Header.Set("Msg-Id", fmt.Sprintf("down-%d", i))
		m.Data, _ = json.Marshal(wire.Message{ActivityOperation: wire.CreateUser, Operations: []scim.Operation{},
			User: scim.User{"userName": fmt.Sprintf("u%d@acme.com", i), "active": true}})
		if _, err := env.JetStream(t, "acme", wire.HR).PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	addrCh := make(chan string, 1)
	go func() {
		done <- gatewayOpts(ctx, gatewayRun{ConfigPath: cfgPath, Level: "info", HTTPAddr: "127.0.0.1:0",
			Stdout: &out, Stderr: &errOut, listening: func(a string) { addrCh <- a }})
	}()
	base := "http://" + <-addrCh
	var rep health.Report
	var body string
	waitFor(t, "the endpoint failing and the messages held", 30*time.Second, func() bool {
		_, rep, body = readyz(t, base)
		ep, sub := part(rep, "endpoint", "scim"), part(rep, "subscriber", "undefined")
		// The messages are handed back when their pull ends (up to a second after the failure).
		return ep != nil && ep.State == "failing" && sub != nil && sub.Detail["held"] == float64(3)
	})
	code, rep, body := readyz(t, base)
	sub := part(rep, "subscriber", "undefined")
	if code != http.StatusServiceUnavailable || sub == nil || sub.State != "consuming" || sub.Detail["held"] != float64(3) || sub.Detail["pending"] != float64(0) ||
		!strings.Contains(part(rep, "endpoint", "scim").LastError, "503") {
		t.Errorf("/readyz %d with the endpoint down:\n%s", code, body)
	}
	t.Logf("gateway, endpoint down, three messages held:\n%s", body)
	_, metrics := httpGet(t, base+"/metrics")
	if !regexp.MustCompile(`scimstream_gateway_messages_total\{endpoint="scim",entity="undefined",result="retry"\} [1-9]`).MatchString(metrics) {
		t.Errorf("retries not counted:\n%s", grepLines(metrics, "scimstream_gateway_messages_total"))
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("gateway exited %d", code)
	}
}

// TestCredsOps: creds -role ops prints a .creds file whose user is signed by the account itself and names the
// inbox prefix and the revoke command; GW and the gateway formats are refused with the reason.
func TestCredsOps(t *testing.T) {
	path, cfg := bootstrapped(t, "-hr", "acme")
	out, errOut := mustCLI(t, "creds", "-config", path, "-tenant", "acme", "-type", "hr", "-role", "ops")
	tok := regexp.MustCompile(`(?s)-----BEGIN NATS USER JWT-----\n(\S+)\n`).FindStringSubmatch(out)
	if tok == nil || !strings.Contains(out, "USER NKEY SEED") {
		t.Fatalf("not a .creds file:\n%s", out)
	}
	acc, err := natsauth.AccountPublicKey(cfg.Nats.Server.Auth.Account["acme"].HR)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwtv2.DecodeUserClaims(tok[1])
	if err != nil {
		t.Fatal(err)
	}
	if uc.Issuer != acc || !uc.Sub.Allow.Contains(natsauth.OpsInbox+".>") || len(uc.Sub.Allow) != 1 || uc.Pub.Allow.Contains("HR.>") {
		t.Errorf("ops user issuer %s (account %s), permissions %+v", uc.Issuer, acc, uc.Permissions)
	}
	if !strings.Contains(errOut, "--inbox-prefix _OPS_INBOX") || !strings.Contains(errOut, "scim-stream revoke -tenant acme -type hr -user "+uc.Subject) {
		t.Errorf("stderr lacks the inbox prefix or the revoke command:\n%s", errOut)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-type", "gw", "-role", "ops"}, "GW account has no streams"},
		{[]string{"-type", "hr", "-role", "ops", "-format", "gateway-json"}, "a .creds file for natscli"},
	} {
		code, _, e := cli(t, append([]string{"creds", "-config", path, "-tenant", "acme"}, c.args...)...)
		if code != 1 || !strings.Contains(e, c.want) {
			t.Errorf("creds %v = %d %q, want 1 naming %q", c.args, code, e, c.want)
		}
	}
}

// TestRunTenantNotStarted: a tenant whose stream rule does not compile is reported "not started" with the reason,
// and /readyz answers 503 although the broker runs; the log says so at start-up.
func TestRunTenantNotStarted(t *testing.T) {
	f := newHRFixture(t, 2, "")
	body, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(body), "- filter: (.*)", `- filter: (user.title -match "(unclosed")`, 1)
	if bad == string(body) {
		t.Fatal("the fixture's stream rule was not found")
	}
	if err := os.WriteFile(f.cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	r := f.run(t, "127.0.0.1:0")
	m := listenRE.FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatalf("no listener address logged:\n%s", r.out.String())
	}
	code, rep, rbody := readyz(t, "http://"+m[1])
	tp := part(rep, "tenant", "HR/"+demo.Tenant)
	if code != http.StatusServiceUnavailable || tp == nil || tp.State != "not started" || tp.Ready || !strings.Contains(tp.LastError, "hr."+demo.Tenant) {
		t.Errorf("/readyz %d:\n%s", code, rbody)
	}
	if b := part(rep, "broker", "embedded"); b == nil || !b.Ready {
		t.Errorf("broker part %+v", b)
	}
	t.Logf("tenant not started:\n%s", rbody)
	if !strings.Contains(r.out.String(), "some tenants did not start") {
		t.Errorf("start-up log does not say a tenant did not start:\n%s", r.out.String())
	}
}
