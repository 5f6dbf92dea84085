// Package health serves a process's operator endpoints: /healthz (liveness), /readyz (readiness, with a JSON body
// naming the state of every part) and /metrics (Prometheus). Parts (the broker, each tenant's collector, a
// gateway's subscribers and endpoint) report through Checks that are read at each request, so the answer is never
// older than the request.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scim-stream/scim-stream/config"
)

// Part is the state of one part of the process in the /readyz body.
type Part struct {
	// Kind groups parts: broker, nats, tenant, subscriber, endpoint, …
	Kind string `json:"kind"`
	// Name identifies the part within its kind (e.g. "HR/acme", an entity key, an account).
	Name string `json:"name"`
	// Ready is false when this part makes the process not ready.
	Ready bool `json:"ready"`
	// State is a short word an operator can alert on (running, collecting, failing, not started, connected,
	// disconnected, …).
	State string `json:"state"`
	// LastSuccess and LastError describe the part's latest work (a collection, an applied message).
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Failures counts consecutive failures since the last success.
	Failures int `json:"consecutive_failures,omitempty"`
	// Detail carries part-specific numbers (pending messages, retry budget).
	Detail map[string]any `json:"detail,omitempty"`
}

// Check returns the current state of one or more parts; it must be cheap and must not block (it runs at every
// probe).
type Check func() []Part

// Report is the /readyz body.
type Report struct {
	// Status is "ready" or "not ready".
	Status string `json:"status"`
	Parts  []Part `json:"checks"`
}

// Registry holds the checks of a process. The zero value is ready to use.
type Registry struct {
	mu     sync.Mutex
	checks []Check
}

// Add registers a check; it is read at every /readyz request.
func (r *Registry) Add(c Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, c)
}

// Report runs every check. The process is ready when every part is ready and there is at least one part.
func (r *Registry) Report() Report {
	r.mu.Lock()
	checks := append([]Check(nil), r.checks...)
	r.mu.Unlock()
	rep := Report{Status: "ready", Parts: []Part{}}
	for _, c := range checks {
		rep.Parts = append(rep.Parts, c()...)
	}
	sort.SliceStable(rep.Parts, func(i, j int) bool {
		if rep.Parts[i].Kind != rep.Parts[j].Kind {
			return rep.Parts[i].Kind < rep.Parts[j].Kind
		}
		return rep.Parts[i].Name < rep.Parts[j].Name
	})
	if len(rep.Parts) == 0 {
		rep.Status = "not ready"
	}
	for _, p := range rep.Parts {
		if !p.Ready {
			rep.Status = "not ready"
		}
	}
	return rep
}

// Handler serves GET /healthz, /readyz and /metrics (gatherer's metrics; nil serves none).
//
// /healthz is liveness: it answers 200 while the process serves HTTP, whatever its parts do (a restart does not
// repair a source that is down). /readyz answers 200 with the Report when every part is ready, else 503 with the
// same body.
func Handler(r *Registry, gatherer prometheus.Gatherer, version string) http.Handler {
	mux := http.NewServeMux()
	started := time.Now()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": version,
			"uptime_seconds": int64(time.Since(started).Seconds())})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		rep := r.Report()
		code := http.StatusOK
		if rep.Status != "ready" {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, rep)
	})
	if gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // error texts hold URLs with '&'; the body is JSON, not HTML
	_ = enc.Encode(v)
}

// Serve listens on addr and serves h until ctx ends (then it shuts down within 5 s). It returns the bound address
// (addr may name port 0) once listening; a listen error is returned at once. done is closed when the server has
// stopped.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (bound string, done <-chan struct{}, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("health and metrics listener %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("health and metrics listener stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), ch, nil
}

// Tracker keeps the outcome of a repeated piece of work (a collection, a message applied) for a Part. It is safe
// for concurrent use.
type Tracker struct {
	mu          sync.Mutex
	lastSuccess time.Time
	lastError   string
	lastErrorAt time.Time
	failures    int
}

// Success records a successful run at t.
func (k *Tracker) Success(t time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lastSuccess, k.failures = t, 0
}

// Failure records a failed run at t.
func (k *Tracker) Failure(t time.Time, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	// The body is served without the log's masking handler: mask registered secrets here.
	k.lastError, k.lastErrorAt = config.MaskSecrets(err.Error()), t
	k.failures++
}

// Failures is the number of consecutive failures since the last success.
func (k *Tracker) Failures() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.failures
}

// Fill sets p's LastSuccess, LastError, LastErrorAt and Failures.
func (k *Tracker) Fill(p *Part) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.lastSuccess.IsZero() {
		t := k.lastSuccess.UTC()
		p.LastSuccess = &t
	}
	if k.lastError != "" {
		t := k.lastErrorAt.UTC()
		p.LastError, p.LastErrorAt = k.lastError, &t
	}
	p.Failures = k.failures
}
