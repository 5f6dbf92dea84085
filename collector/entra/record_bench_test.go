package entra

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/collector"
)

// BenchmarkRecord measures building one user's record from the directory (properties, manager, transitive
// groups, roles from 20 applications directly and through nested groups): the part of a full sync that runs
// once per user after the Graph requests. ns/op and allocs/op are per user; the baseline, timed in the same run,
// is copying the user's properties (the least a record does), and "ratio" is record time over baseline time.
func BenchmarkRecord(b *testing.B) {
	tenant := bigTenant(2000, 20, 20)
	ts, cfg := benchServer(b, tenant)
	src, err := New("bench", cfg, Options{HTTPClient: ts.Client()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := src.Collect(context.Background(), newCheckpoints(b), func(collector.Record) error { return nil }); err != nil {
		b.Fatal(err)
	}
	ids := sorted(setOf(src.dir.users))
	roles := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, ok := src.record(ids[i%len(ids)])
		if !ok {
			b.Fatal("user out of scope")
		}
		roles += len(r.Roles)
	}
	b.StopTimer()
	if roles == 0 {
		b.Fatal("no roles: the benchmark tenant assigns roles through divisions")
	}
	recordTime := b.Elapsed()
	start := time.Now()
	n := 0
	for i := 0; i < b.N; i++ {
		n += len(maps.Clone(src.dir.users[ids[i%len(ids)]]))
	}
	base := time.Since(start)
	if n == 0 {
		b.Fatal("no properties")
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(recordTime.Seconds()/base.Seconds(), "ratio")
}
