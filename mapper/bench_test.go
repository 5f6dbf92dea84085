package mapper

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSuccessFactors maps the documentation's SuccessFactors example record with the full documented
// mapping. Compare "map" (an existing user: no onCreate) and "map_new" (a new user: onCreate with two
// GetUniqueValue reservations in the in-memory registry) with "unmarshal", a plain json.Unmarshal of the same
// record in the same run: the collector pays that anyway, so the ratio is the mapper's cost relative to reading
// the record.
func BenchmarkSuccessFactors(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "sf-perperson.json"))
	if err != nil {
		b.Fatal(err)
	}
	m := compileSF(b)
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v map[string]any
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Map(ctx, raw, Options{Owner: "100123", Now: now}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map_new", func(b *testing.B) {
		reg := NewMemory()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Map(ctx, raw, Options{New: true, Owner: "100123", Unique: reg, Now: now}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSuccessFactorsRatio interleaves a json.Unmarshal of the record and a Map of it in every iteration and
// reports the mapper's time as a ratio of the unmarshal time (map/unmarshal; map_new/unmarshal for a new user
// with two GetUniqueValue reservations) and users mapped per second, by wall time and per core of CPU time. Interleaving keeps the ratio meaningful on
// a shared, noisy machine where sequential sub-benchmarks see different loads.
func BenchmarkSuccessFactorsRatio(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "sf-perperson.json"))
	if err != nil {
		b.Fatal(err)
	}
	m := compileSF(b)
	ctx := context.Background()
	reg := NewMemory()
	var tUnmarshal, tMap, tNew time.Duration
	cpu0 := processCPU()
	for b.Loop() {
		t0 := time.Now()
		var raw map[string]any
		if err := json.Unmarshal(data, &raw); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := m.Map(ctx, raw, Options{Owner: "100123", Now: now}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := m.Map(ctx, raw, Options{New: true, Owner: "100123", Unique: reg, Now: now}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		tUnmarshal += t1.Sub(t0)
		tMap += t2.Sub(t1)
		tNew += t3.Sub(t2)
	}
	b.ReportMetric(float64(tMap)/float64(tUnmarshal), "map/unmarshal")
	b.ReportMetric(float64(tNew)/float64(tUnmarshal), "map_new/unmarshal")
	b.ReportMetric(float64(b.N)/tMap.Seconds(), "users/s")
	// Per core: the process's CPU time (GC included) shared out in proportion to the wall times, so other
	// processes on the machine do not count.
	if cpu := processCPU() - cpu0; cpu > 0 {
		mapCPU := cpu.Seconds() * float64(tMap) / float64(tUnmarshal+tMap+tNew)
		b.ReportMetric(float64(b.N)/mapCPU, "users/cpu-s")
	}
}
