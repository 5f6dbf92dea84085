package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// sfSource emits n SuccessFactors PerPerson records made from the mapper's sample (three employments each, so
// the -most_current rule has work to do), with distinct ids, names and a spread of titles and departments. The
// records are made as they are emitted, the way an HR source decodes one page of 100 at a time: holding all
// 100,000 decoded records before the collection starts (several kilobytes of maps each) made the peak memory
// measure the fixture rather than the pipeline. A record shares the sample's unchanged parts (the mapper never
// changes its input) and copies the maps on the way to the fields it varies.
type sfSource struct {
	n      int
	sample map[string]any
}

func newSFSource(tb testing.TB, n int) *sfSource {
	tb.Helper()
	raw, err := os.ReadFile("../mapper/testdata/sf-perperson.json")
	if err != nil {
		tb.Fatal(err)
	}
	s := &sfSource{n: n}
	if err := json.Unmarshal(raw, &s.sample); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s *sfSource) Type() wire.Type { return wire.HR }

func (s *sfSource) Policy() Policy { return testPolicy(wire.HR) }

func (s *sfSource) Collect(ctx context.Context, _ Checkpoints, emit func(Record) error) (bool, error) {
	for i := range s.n {
		if err := emit(s.record(i)); err != nil {
			return false, err
		}
	}
	return true, nil
}

var (
	benchTitles = []string{"Consultant", "Senior Consultant", "Engineer", "Sales Manager", "Dog Trainer", "Project Manager"}
	// Name pools the size of a real company's: GetUniqueValue meets collisions (two John Smiths, "smijo" taken)
	// as often as it does in production, not on every user.
	benchGiven = []string{"John", "Mary", "Ole", "Kari", "Anna", "Lars", "Eva", "Jonas", "Siri", "Tor", "Ingrid", "Nils",
		"Marte", "Rune", "Greta", "Håkon", "Åse", "Bjørn", "Clara", "David", "Fredrik", "Pernille", "Chloé", "Ivan",
		"Fatima", "George", "Hanna", "Karl", "Lena", "Mohammed", "Nora", "Oscar", "Paula", "Quentin", "Rita", "Sofia"}
	benchFamily = []string{"Smith", "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
		"Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen", "Andreassen",
		"Jacobsen", "Dahl", "Ødegård", "Martin", "Kim", "Schmidt", "Khan", "Brown", "Petrov", "Rossi", "Fischer", "Ali",
		"Lind", "Silva", "Dubois", "Moreau", "Müller", "García", "Novak", "Virtanen", "Nowak"}
	benchDepts = []string{"Sales", "IT", "Finance", "Operations"}
)

func (s *sfSource) record(i int) Record {
	m := maps.Clone(s.sample)
	id := fmt.Sprintf("%07d", i)
	m["personIdExternal"] = id
	// Two name parts per person (e.g. "John Ole Smith-Hansen"), so names repeat about as often as in a large
	// company rather than every len(pool) users.
	pn := maps.Clone(m["personalInfoNav"].(map[string]any))
	m["personalInfoNav"] = pn
	pi := maps.Clone(pn["results"].([]any)[0].(map[string]any))
	pn["results"] = []any{pi}
	pi["firstName"] = benchGiven[i%len(benchGiven)] + " " + benchGiven[(i/len(benchGiven))%len(benchGiven)]
	pi["lastName"] = benchFamily[(i/7)%len(benchFamily)] + "-" + benchFamily[(i/(7*len(benchFamily)))%len(benchFamily)]
	en := maps.Clone(m["employmentNav"].(map[string]any))
	m["employmentNav"] = en
	emps := slices.Clone(en["results"].([]any))
	en["results"] = emps
	for j, e := range emps {
		e := maps.Clone(e.(map[string]any))
		emps[j] = e
		jn := maps.Clone(e["jobInfoNav"].(map[string]any))
		e["jobInfoNav"] = jn
		ji := maps.Clone(jn["results"].([]any)[0].(map[string]any))
		jn["results"] = []any{ji}
		ji["jobTitle"] = benchTitles[i%len(benchTitles)]
		ji["department"] = benchDepts[i%len(benchDepts)]
	}
	return Record{ID: id, Data: m}
}

// benchTenant is the documentation's SuccessFactors tenant with three channels and one dynamic.
func benchTenant(tb testing.TB) *Tenant {
	tb.Helper()
	c, err := config.Check("../testdata/config/hr-successfactors.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	tc := c.HR["mycompany"]
	tc.Streams = []config.Stream{
		{Channel: "SF", Rules: []config.Filter{{Filter: "(.*)"}}},
		{Channel: "CONSULTANTS", Rules: []config.Filter{{Filter: `(user.title -match ".*Consultant.*")`}}},
		{Channel: "SALES", Rules: []config.Filter{
			{Filter: `(user.urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department -match "Sales")`},
			{Filter: `(user.groups.display -match "Sales_.*")`}}},
	}
	tc.Dynamics = []config.Dynamic{{DynamicID: "dyn-managers",
		Rules: []config.Filter{{Filter: `(user.title -match ".*Manager")`}},
		Assignments: []config.Assignment{{Path: "user.groups", Value: []any{
			map[string]any{"display": "Sales_Managers", "value": "Sales_Managers"}}}}}}
	t, err := Compile("mycompany", wire.HR, tc)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// peakMemory samples the Go runtime's memory obtained from the OS while f runs.
func peakMemory(f func()) (peak uint64) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for !stop.Load() {
			runtime.ReadMemStats(&ms)
			if ms.Sys > peak {
				peak = ms.Sys
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	f()
	stop.Store(true)
	wg.Wait()
	return peak
}

// BenchmarkPipelineSuccessFactors measures, in one run, raw JetStream async publishing of b.N messages of the
// same size (the baseline) and a first collection of b.N SuccessFactors users through the full pipeline
// (documentation mapping with -most_current and two GetUniqueValue, one dynamic, three channels). It reports both
// rates, their ratio, and the peak memory of the pipeline run. The figure: -benchtime 100000x.
func BenchmarkPipelineSuccessFactors(b *testing.B) {
	src := newSFSource(b, b.N)
	ten := benchTenant(b)
	bus := newTestBus(b)
	ctx := context.Background()

	// Baseline: the same number of messages, 1.5 KB each (a typical mapped user), pipelined the same way.
	body := make([]byte, 1500)
	for i := range body {
		body[i] = 'x'
	}
	start, cpu0 := time.Now(), cpuTime()
	publishAll(b, bus.js, "HR.RAW", body, b.N)
	raw, rawCPU := time.Since(start), cpuTime()-cpu0
	before, err := bus.stream.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}

	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z"), Progress: time.Hour}
	var stats Stats
	b.ResetTimer()
	cpu0 = cpuTime()
	peak := peakMemory(func() {
		var err error
		stats, err = p.Collect(ctx, ten, src, false)
		if err != nil {
			b.Fatal(err)
		}
	})
	b.StopTimer()
	piped, pipedCPU := b.Elapsed(), cpuTime()-cpu0
	if stats.Failed != 0 || stats.Seen != b.N {
		b.Fatalf("stats %s", stats)
	}
	usersPerSec := float64(b.N) / piped.Seconds()
	rawPerSec := float64(b.N) / raw.Seconds()
	b.ReportMetric(usersPerSec, "users/s")
	b.ReportMetric(rawPerSec, "raw-msgs/s")
	b.ReportMetric(usersPerSec/rawPerSec, "ratio")
	b.ReportMetric(float64(stats.Published)/float64(b.N), "msgs/user")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	// CPU time of the whole process (embedded server included) per user and per raw message: steadier than the
	// rates when other work shares the machine.
	b.ReportMetric(float64(pipedCPU.Microseconds())/float64(b.N), "cpu-µs/user")
	b.ReportMetric(float64(rawCPU.Microseconds())/float64(b.N), "raw-cpu-µs/msg")

	// Floor: the JetStream writes these users need, without the pipeline's own work: as many messages of the
	// same average size, one state write per user of the same size, and the unique-value reservations the
	// collection made (two per new user with this mapping), each kind from as many goroutines as the pipeline
	// uses. It puts "ratio" in perspective: a new user is several JetStream writes, the baseline one.
	after, err := bus.stream.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	msgSize := int((after.State.Bytes - before.State.Bytes) / (after.State.Msgs - before.State.Msgs))
	e, err := bus.state.kv.Get(ctx, userKey(src.record(0).ID))
	if err != nil {
		b.Fatal(err)
	}
	keys, err := bus.state.kv.ListKeysFiltered(ctx, "uniq.>")
	if err != nil {
		b.Fatal(err)
	}
	reserved := 0
	for range keys.Keys() {
		reserved++
	}
	cpu0 = cpuTime()
	floor := jetstreamFloor(b, bus.js, stats.Published, msgSize, b.N, len(e.Value()), reserved, p.workers())
	floorCPU := cpuTime() - cpu0
	floorPerSec := float64(b.N) / floor.Seconds()
	b.ReportMetric(floorPerSec, "floor-users/s")
	b.ReportMetric(float64(floorCPU.Microseconds())/float64(b.N), "floor-cpu-µs/user")
	b.ReportMetric(usersPerSec/floorPerSec, "of-floor")
}

// publishAll publishes n messages of body to subject asynchronously, at most 512 unacknowledged (the pipeline's
// window).
func publishAll(b *testing.B, js jetstream.JetStream, subject string, body []byte, n int) {
	var futures []jetstream.PubAckFuture
	for i := 0; i < n; i++ {
		m := nats.NewMsg(subject)
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", subject, i))
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
		if len(futures) == 512 {
			waitAll(b, futures)
			futures = futures[:0]
		}
	}
	waitAll(b, futures)
}

// jetstreamFloor times msgs messages of msgSize bytes, puts KV puts of putSize bytes (on committers goroutines)
// and creates KV creates (on workers goroutines), all at once, in a bucket of their own.
func jetstreamFloor(b *testing.B, js jetstream.JetStream, msgs, msgSize, puts, putSize, creates, workers int) time.Duration {
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "floor"})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, putSize)
	for i := range value {
		value[i] = 'v'
	}
	var wg sync.WaitGroup
	kvWork := func(goroutines, n int, op func(i int) error) {
		next := atomic.Int64{}
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
					if err := op(i); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
	}
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		publishAll(b, js, "HR.FLOOR", make([]byte, msgSize), msgs)
	}()
	kvWork(committers, puts, func(i int) error {
		_, err := kv.Put(ctx, fmt.Sprintf("user.%d", i), value)
		return err
	})
	kvWork(workers, creates, func(i int) error {
		_, err := kv.Create(ctx, fmt.Sprintf("uniq.%d", i), []byte("0000000"))
		return err
	})
	wg.Wait()
	return time.Since(start)
}

func waitAll(b *testing.B, fs []jetstream.PubAckFuture) {
	for _, f := range fs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelineSuccessFactorsUnchanged measures the everyday collection: the same b.N users again, nothing
// changed (the first collection is set-up, not timed). It reads every user's state, maps every user and
// publishes nothing.
func BenchmarkPipelineSuccessFactorsUnchanged(b *testing.B) {
	src := newSFSource(b, b.N)
	ten := benchTenant(b)
	bus := newTestBus(b)
	ctx := context.Background()
	p := &Pipeline{JS: bus.js, State: bus.state, Now: clockAt("2026-06-01T08:00:00Z"), Progress: time.Hour}
	if _, err := p.Collect(ctx, ten, src, false); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var stats Stats
	b.ResetTimer()
	cpu0 := cpuTime()
	peak := peakMemory(func() {
		var err error
		stats, err = p.Collect(ctx, ten, src, false)
		if err != nil {
			b.Fatal(err)
		}
	})
	b.StopTimer()
	if stats.Seen != b.N || stats.Published != 0 || stats.Failed != 0 {
		b.Fatalf("stats %s", stats)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/user")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
}
