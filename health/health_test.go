package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHandlerOverHTTP: /healthz is 200 whatever the parts say; /readyz is 200 only when every part is ready and
// 503 with the same JSON body otherwise; /metrics serves the registry; the listener stops with its context.
func TestHandlerOverHTTP(t *testing.T) {
	var tr Tracker
	tr.Success(time.Unix(1700000000, 0))
	ready := true
	reg := &Registry{}
	reg.Add(func() []Part {
		p := Part{Kind: "tenant", Name: "HR/acme", Ready: ready, State: "ok"}
		tr.Fill(&p)
		return []Part{p}
	})
	reg.Add(func() []Part { return []Part{{Kind: "broker", Name: "embedded", Ready: true, State: "running"}} })
	pr := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "scimstream_test_total", Help: "A test counter."})
	pr.MustRegister(c)
	ctx, cancel := context.WithCancel(context.Background())
	addr, done, err := Serve(ctx, "127.0.0.1:0", Handler(reg, pr, "v-test"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr

	code, body := get(t, base+"/healthz")
	if code != 200 || !strings.Contains(body, `"status": "ok"`) || !strings.Contains(body, "v-test") {
		t.Errorf("/healthz %d %s", code, body)
	}
	code, body = get(t, base+"/readyz")
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if code != 200 || rep.Status != "ready" || len(rep.Parts) != 2 || rep.Parts[0].Kind != "broker" ||
		rep.Parts[1].LastSuccess == nil || !rep.Parts[1].LastSuccess.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("/readyz %d %s", code, body)
	}

	ready = false
	tr.Failure(time.Unix(1700000060, 0), errors.New("source down"))
	code, body = get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"status": "not ready"`) ||
		!strings.Contains(body, `"last_error": "source down"`) || !strings.Contains(body, `"consecutive_failures": 1`) {
		t.Errorf("/readyz with a part not ready: %d %s", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d while not ready; liveness must not follow readiness", code)
	}
	c.Add(3)
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "scimstream_test_total 3") {
		t.Errorf("/metrics %d %s", code, body)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not stop")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("listener still answers after its context ended")
	}
	if (&Registry{}).Report().Status != "not ready" {
		t.Error("a registry without parts reports ready")
	}
}
