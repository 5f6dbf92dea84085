package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/demo"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/wire"
)

// smtpBox starts a real SMTP server and returns the email section that sends errors to it.
func smtpBox(t *testing.T) (*mailbox, string) {
	t.Helper()
	box := &mailbox{}
	srv := smtp.NewServer(box)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box, fmt.Sprintf("email:\n  smtp:\n    host: 127.0.0.1\n    port: %d\n  on_error:\n    enabled: true\n    send_interval: 1\n    to: idm@mycompany.com\n",
		ln.Addr().(*net.TCPAddr).Port)
}

// metrics reads /metrics of a running process.
func (r *running) metrics(t *testing.T) string {
	t.Helper()
	addr := regexp.MustCompile(`metrics and health endpoint listening.*addr=(\S+)`).FindStringSubmatch(r.out.String())
	if addr == nil {
		t.Fatalf("no metrics address logged:\n%s", r.out.String())
	}
	resp, err := http.Get("http://" + addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// metric returns the value of one sample line ("" when absent).
func metric(body, sample string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			return v
		}
	}
	return ""
}

// tallyLeavers counts deactivations per user.
func tallyLeavers(msgs []received) (deactivated map[string]int, other []received) {
	deactivated = map[string]int{}
	for _, m := range msgs {
		if m.User["active"] == false || m.ActivityOperation == wire.DeleteUser {
			deactivated[m.TargetID]++
		} else {
			other = append(other, m)
		}
	}
	return
}

// TestRunHRMassLeaversHeldUntilReleased is the scenario through `scim-stream run`, the real broker and a
// subscriber: 2,000 people are published; the HR source then lists 200. Three collections pass: no deactivation
// is published, a title change of one of the 200 arrives, an ERROR line names the tenant, the numbers and the
// release command, /metrics shows the hold and a mail goes out. `scim-stream release` (a separate command against
// the running process) lets the 1,800 deactivations through: each arrives exactly once.
func TestRunHRMassLeaversHeldUntilReleased(t *testing.T) {
	box, email := smtpBox(t)
	// 2,001 people: the last sample person is a future hire, so 2,000 are published.
	f := newHRFixture(t, 2001, email)
	r := f.run(t, "127.0.0.1:0")
	sub := subscribe(t, f.cfgPath, r.env.Broker.ClientURL(), r.env.Broker.CAFile(), "HR.SF", "e2e")
	if got := sub.fetch(t, 2000, 120*time.Second); len(got) != 2000 {
		t.Fatalf("want 2000 createUser, got %d", len(got))
	}

	ids := f.company.IDs()
	kept := map[string]bool{}
	for _, id := range ids {
		if len(kept) < 200 {
			kept[id] = true
			continue
		}
		f.company.Remove(id)
	}
	if f.company.Len() != 200 {
		t.Fatalf("the source lists %d people, want 200", f.company.Len())
	}
	if err := f.company.SetTitle(ids[7], "Head of Safety"); err != nil {
		t.Fatal(err)
	}
	// Three collections that met the cut source (a scheduled one may have started before the cut).
	held := func() int {
		n, _ := strconv.Atoi(metric(r.metrics(t), `scimstream_guard_held_collections_total{tenant="mycompany",type="HR"}`))
		return n
	}
	waitFor(t, "three held collections", 120*time.Second, func() bool {
		r.collect(t)
		return held() >= 3
	})
	got := sub.fetch(t, 1800, 2*time.Second)
	deact, other := tallyLeavers(got)
	if len(deact) != 0 || len(other) != 1 || other[0].TargetID != ids[7] || other[0].User["title"] != "Head of Safety" {
		t.Fatalf("while held: want 0 deactivations and the title change of %s, got %d deactivated and %+v", ids[7], len(deact), other)
	}
	line := grepLines(r.out.String(), "mass change held")
	for _, want := range []string{"level=ERROR", "tenant=mycompany", "type=HR", "1800 of 2000 known users", "leavers=1800",
		"scim-stream release -tenant mycompany -type hr"} {
		if !strings.Contains(line, want) {
			t.Fatalf("the hold's log line lacks %q:\n%s", want, line)
		}
	}
	body := r.metrics(t)
	if v := metric(body, `scimstream_guard_held_leavers{tenant="mycompany",type="HR"}`); v != "1800" {
		t.Fatalf("scimstream_guard_held_leavers = %q, want 1800:\n%s", v, grepLines(body, "scimstream_guard"))
	}
	waitFor(t, "the hold's mail", 10*time.Second, func() bool {
		for _, m := range box.all() {
			if strings.Contains(m, "mass change held") && strings.Contains(m, "scim-stream release -tenant mycompany -type hr") {
				return true
			}
		}
		return false
	})

	// The status, then the release, as an operator runs them against the running process.
	var out syncBuffer
	if code := runRelease([]string{"-config", f.cfgPath, "-tenant", demo.Tenant, "-type", "hr", "-status"}, &out, &out); code != 0 ||
		!strings.Contains(out.String(), "1800 of 2000 known users held") {
		t.Fatalf("release -status: %d %s", code, out.String())
	}
	out = syncBuffer{}
	if code := runRelease([]string{"-config", f.cfgPath, "-tenant", demo.Tenant, "-type", "hr"}, &out, &out); code != 0 ||
		!strings.Contains(out.String(), "released 1800 leavers") {
		t.Fatalf("release: %d %s", code, out.String())
	}
	r.collect(t)
	r.collect(t)
	got = sub.exactly(t, 1800)
	deact, other = tallyLeavers(got)
	if len(got) != 1800 || len(deact) != 1800 || len(other) != 0 {
		t.Fatalf("after the release: want 1800 deactivations, got %d messages, %d users deactivated, %d others", len(got), len(deact), len(other))
	}
	for id, n := range deact {
		if n != 1 || kept[id] {
			t.Fatalf("user %s deactivated %d times (kept: %v)", id, n, kept[id])
		}
	}
	body = r.metrics(t)
	if v := metric(body, `scimstream_guard_held_leavers{tenant="mycompany",type="HR"}`); v != "0" {
		t.Fatalf("after the release scimstream_guard_held_leavers = %q, want 0", v)
	}
	if v := metric(body, `scimstream_guard_released_leavers_total{tenant="mycompany",type="HR"}`); v != "1800" {
		t.Fatalf("scimstream_guard_released_leavers_total = %q, want 1800", v)
	}
	out = syncBuffer{}
	if code := runRelease([]string{"-config", f.cfgPath, "-tenant", demo.Tenant, "-type", "hr"}, &out, &out); code != 1 ||
		!strings.Contains(out.String(), "nothing is held") {
		t.Fatalf("a second release: %d %s", code, out.String())
	}
}

// TestRunHRSourceFaultsMakeNoLeavers: with the guard off (so that integrity alone is tested), each fault of the
// imitation SuccessFactors server that loses people — paging cut short, a count that disagrees, a single-record
// response, records whose id is an object, null, a boolean or missing — publishes no deactivation, counts an
// incomplete collection in /metrics and mails it; numeric ids change nothing (userName stays the string "1003");
// a duplicate id publishes neither record and names the id and both positions.
func TestRunHRSourceFaultsMakeNoLeavers(t *testing.T) {
	box, email := smtpBox(t)
	f := newHRFixture(t, 301, email)
	for _, c := range []config.Change{
		{Path: []string{"hr", demo.Tenant, "general", "guard", "max_leavers_percent"}, Value: 0},
		{Path: []string{"hr", demo.Tenant, "general", "guard", "max_leavers"}, Value: 0},
	} {
		if err := config.Update(f.cfgPath, c); err != nil {
			t.Fatal(err)
		}
	}
	r := f.run(t, "127.0.0.1:0")
	sub := subscribe(t, f.cfgPath, r.env.Broker.ClientURL(), r.env.Broker.CAFile(), "HR.SF", "e2e")
	if got := sub.fetch(t, 300, 60*time.Second); len(got) != 300 {
		t.Fatalf("want 300 createUser, got %d", len(got))
	}
	faults := []struct {
		name string
		f    successfactors.Faults
	}{
		{"paging cut after 2 of 4 pages", successfactors.Faults{CutAfterPages: 2}},
		{"count off by 5", successfactors.Faults{CountDelta: 5}},
		{"single record", successfactors.Faults{SingleRecord: true}},
		{"bad id types", successfactors.Faults{BadIDs: map[string]any{"1002": map[string]any{"id": 1002}, "1003": nil, "1004": false, "1005": successfactors.Missing}}},
	}
	incomplete := func() int {
		n, _ := strconv.Atoi(metric(r.metrics(t), `scimstream_collection_incomplete_total{tenant="mycompany",type="HR"}`))
		return n
	}
	for _, c := range faults {
		before := incomplete()
		f.api.SetFaults(c.f)
		// A scheduled collection may have started before the fault: collect until one met it.
		waitFor(t, c.name+" counted as incomplete", 60*time.Second, func() bool {
			r.collect(t)
			return incomplete() > before
		})
		if got := sub.fetch(t, 1, time.Second); len(got) != 0 {
			t.Fatalf("%s: %d messages published (first: %+v)", c.name, len(got), got[0])
		}
	}
	for _, want := range []string{"read=200 announced=301", "read=301 announced=306", "read=1 announced=301", "4 records without a usable id"} {
		if !strings.Contains(grepLines(r.out.String(), "collection incomplete"), want) {
			t.Errorf("no incomplete-collection line with %q:\n%s", want, grepLines(r.out.String(), "collection incomplete"))
		}
	}
	waitFor(t, "an incomplete-collection mail", 10*time.Second, func() bool {
		for _, m := range box.all() {
			if strings.Contains(m, "incomplete collection") {
				return true
			}
		}
		return false
	})

	// Numeric ids: the same people, the same string userName, nothing to publish.
	f.api.SetFaults(successfactors.Faults{NumericIDs: true})
	r.collect(t)
	r.collect(t)
	if got := sub.fetch(t, 1, time.Second); len(got) != 0 {
		t.Fatalf("numeric ids published %+v", got[0])
	}

	// A duplicate id: 1010 listed a second time with 1020's data (at the end of the listing of 301 people: the future hire is listed, not published).
	f.api.SetFaults(successfactors.Faults{Duplicates: []successfactors.Duplicate{{ID: "1010", Of: "1020"}}})
	for range 2 {
		r.collect(t)
	}
	if got := sub.fetch(t, 1, time.Second); len(got) != 0 {
		t.Fatalf("a duplicate id published %+v", got[0])
	}
	if l := grepLines(r.out.String(), "duplicate id"); !strings.Contains(l, "user=1010 first_record=10 second_record=302") {
		t.Fatalf("the duplicate's error names neither the id nor both positions:\n%s", l)
	}

	// Repaired: one real leaver is published, once.
	f.api.SetFaults(successfactors.Faults{})
	f.company.Remove("1100")
	r.collect(t)
	r.collect(t)
	got := sub.exactly(t, 1)
	if len(got) != 1 || got[0].TargetID != "1100" || got[0].User["active"] != false {
		t.Fatalf("repaired: want the one leaver 1100, got %+v", got)
	}
}
