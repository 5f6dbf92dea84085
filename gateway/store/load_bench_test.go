package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
)

// BenchmarkListUnderLoad: the SCIM server over a store of 100,000 users receives waves of 1,000 concurrent
// authenticated GET /Users?count=50 (random startIndex). Every request is answered or refused with 429; reported:
// answered and refused per wave, p99 of the answered ones, the same-run baseline p99 of the same request sent one
// at a time, and the process's peak RSS while the waves ran (VmRSS sampled every 5 ms; the load phase before is
// not counted). One op is one wave.
//
//	go test -run '^$' -bench BenchmarkListUnderLoad -benchtime 3x ./gateway/store/
func BenchmarkListUnderLoad(b *testing.B) {
	const users, wave, count = 100_000, 1000, 50
	st, err := store.Open(filepath.Join(b.TempDir(), "load.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := store.LoadUsersForBench(ctx, st, users, func(i int) map[string]any {
		return map[string]any{"active": true, "displayName": fmt.Sprintf("User %d", i), "title": "Engineer",
			"emails": []any{map[string]any{"value": fmt.Sprintf("user%d@example.com", i), "type": "work", "primary": true}},
			"name":   map[string]any{"givenName": "Given" + strconv.Itoa(i), "familyName": "Family" + strconv.Itoa(i)}}
	}); err != nil {
		b.Fatal(err)
	}
	const token = "load-test-bearer-token"
	// BENCH_MAX_IN_FLIGHT tries another bound than the default.
	inFlight, _ := strconv.Atoi(os.Getenv("BENCH_MAX_IN_FLIGHT"))
	scimSrv := scimserver.NewServer(st, scimserver.ServerOptions{MaxInFlight: inFlight,
		Auth: scimserver.Auth{BearerToken: []scimserver.BearerToken{{Token: token}}}})
	// Server-side time of answered requests (from the handler's start to its end): on a loaded machine the
	// client-side time is mostly connection set-up and scheduling of 1,000 client goroutines in this process.
	var smu sync.Mutex
	var served []time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		scimSrv.ServeHTTP(sw, r)
		if sw.status == 0 || sw.status == http.StatusOK {
			smu.Lock()
			served = append(served, time.Since(start))
			smu.Unlock()
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: wave, MaxIdleConnsPerHost: wave}, Timeout: 120 * time.Second}
	get := func() (int, time.Duration, error) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/Users?count=%d&startIndex=%d", srv.URL, count, 1+rand.IntN(users-count)), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer res.Body.Close()
		var buf [32 << 10]byte
		for {
			if _, err := res.Body.Read(buf[:]); err != nil {
				break
			}
		}
		return res.StatusCode, time.Since(start), nil
	}
	// Baseline: one request at a time.
	var base []time.Duration
	for range 200 {
		status, d, err := get()
		if err != nil || status != 200 {
			b.Fatalf("baseline request: %d %v", status, err)
		}
		base = append(base, d)
	}
	runtime.GC()
	stop := make(chan struct{})
	var peak atomic.Int64
	go func() {
		for {
			if r := rssBytes(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	smu.Lock()
	served = nil
	smu.Unlock()
	var answered, refused, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		for range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, d, err := get()
				switch {
				case err != nil:
					failed.Add(1)
				case status == http.StatusOK:
					answered.Add(1)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				case status == http.StatusTooManyRequests:
					refused.Add(1)
				default:
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	close(stop)
	if failed.Load() > 0 {
		b.Fatalf("%d requests neither answered nor refused with 429", failed.Load())
	}
	p99, baseP99 := percentile(lat, 0.99), percentile(base, 0.99)
	smu.Lock()
	serverP99 := percentile(served, 0.99)
	smu.Unlock()
	b.ReportMetric(float64(serverP99.Microseconds())/1000, "server-p99-ms")
	// CPU of this process (server and the 1,000 clients) per answered request: independent of other load on the
	// machine, unlike the latencies.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(max(answered.Load(), 1)), "cpu-ms/answered")
	b.ReportMetric(float64(answered.Load())/float64(b.N), "answered/wave")
	b.ReportMetric(float64(refused.Load())/float64(b.N), "refused429/wave")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(baseP99.Microseconds())/1000, "baseline-p99-ms")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peakRSS-MB")
	b.Logf("%d users; waves of %d: answered %d, refused 429 %d; p99 client-side %v (one at a time: %v, ratio %.1f), server-side %v; peak RSS %d MB",
		users, wave, answered.Load(), refused.Load(), p99, baseP99, float64(p99)/float64(baseP99), serverP99, peak.Load()>>20)
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// rssBytes is the process's resident set size (Linux); 0 elsewhere.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
