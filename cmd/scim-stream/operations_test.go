package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/scim-stream/scim-stream/health"
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
	tenant := part(rep, "tenant", "HR/"+demoTenant)
	if tenant == nil || tenant.State != "ok" || tenant.LastSuccess == nil {
		t.Errorf("tenant part %+v", tenant)
	}
	if b := part(rep, "broker", "embedded"); b == nil || b.State != "running" || !b.Ready {
		t.Errorf("broker part %+v", b)
	}
	for _, acc := range []string{demoTenant + "/HR", "STATE"} {
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
		return strings.Contains(metrics, `scimstream_consumer_ack_pending_messages{account="mycompany/HR",consumer="behind",stream="mycompany"} 0`)
	})
	for _, want := range []string{
		`scimstream_stream_messages{account="mycompany/HR",stream="mycompany"} 3`,
		`scimstream_consumer_pending_messages{account="mycompany/HR",consumer="behind",stream="mycompany"} 2`,
		`scimstream_consumer_ack_floor_sequence{account="mycompany/HR",consumer="behind",stream="mycompany"} 1`,
		`scimstream_collections_total{tenant="mycompany",type="HR"} 1`,
		`scimstream_tenant_running{tenant="mycompany",type="HR"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "scimstream_"))
		}
	}
	if !regexp.MustCompile(`scimstream_consumer_last_ack_timestamp_seconds\{account="mycompany/HR",consumer="behind",stream="mycompany"\} 1\.[0-9e+]+`).MatchString(metrics) {
		t.Errorf("no last-ack time for the durable:\n%s", grepLines(metrics, "last_ack"))
	}
	lintMetrics(t, metrics)

	// The HR system fails: within the retry budget the tenant is failing but ready.
	f.api.Fail(6, http.StatusServiceUnavailable, time.Second)
	r.collect(t)
	code, rep, body = readyz(t, base)
	if tp := part(rep, "tenant", "HR/"+demoTenant); code != 200 || tp == nil || tp.State != "failing" || tp.Failures != 1 ||
		!strings.Contains(tp.LastError, "503") {
		t.Errorf("after one failed collection /readyz %d:\n%s", code, body)
	}
	t.Logf("source down, within budget:\n%s", body)
	for i := 0; i < 2; i++ {
		f.api.Fail(1, http.StatusBadRequest, 0)
		r.collect(t)
	}
	code, rep, body = readyz(t, base)
	if tp := part(rep, "tenant", "HR/"+demoTenant); code != http.StatusServiceUnavailable || rep.Status != "not ready" ||
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
