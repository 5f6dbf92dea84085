package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// changes generates n messages over users people, like a source that keeps changing: each user is created, then
// changes title and moves between groups (with the remove Operation for the old one); in the last round a
// tenth are deleted and a tenth leave (active false). want is the state the endpoint must end in.
func changes(n, people int) (msgs []wire.Message, want map[string]scim.User) {
	want = map[string]scim.User{}
	groupOf := func(k, round int) string { return fmt.Sprintf("G%d", (k+round)%5) }
	rounds := n / people
	for i := range n {
		k, round := i%people, i/people
		name := fmt.Sprintf("user%03d@acme.com", k)
		u := person(name, "title", fmt.Sprintf("Title %d", round), "groups", []any{group(groupOf(k, round))})
		var ops []scim.Operation
		op := wire.CreateUser
		if round > 0 {
			op = wire.ModifyUser
			ops = append(ops, scim.Operation{Op: "remove", Path: "groups", Value: []any{group(groupOf(k, round-1))}},
				scim.Operation{Op: "add", Path: "groups", Value: []any{group(groupOf(k, round))}})
		}
		if round == rounds-1 && k%10 == 1 {
			u["active"] = false
		}
		if round == rounds-1 && k%10 == 0 {
			op = wire.DeleteUser
			delete(want, name)
		} else {
			want[name] = scim.User(u)
		}
		msgs = append(msgs, msg(op, u, ops...))
	}
	return msgs, want
}

// mismatch describes how the store differs from want ("" when it converged).
func mismatch(ctx context.Context, ep endpoint.Endpoint, want map[string]scim.User, people int) string {
	for k := range people {
		name := fmt.Sprintf("user%03d@acme.com", k)
		w, exists := want[name]
		got, err := ep.FindUser(ctx, name)
		switch {
		case !exists && err == nil:
			return name + " exists, want deleted"
		case !exists:
			continue
		case err != nil:
			return fmt.Sprintf("%s: %v", name, err)
		case got["title"] != w["title"] || got["active"] != w["active"]:
			return fmt.Sprintf("%s: title %v active %v, want %v %v", name, got["title"], got["active"], w["title"], w["active"])
		}
		wg := w["groups"].([]any)[0].(map[string]any)["display"].(string)
		if g := groupNames(got); !slices.Equal(g, []string{wg}) {
			return fmt.Sprintf("%s: groups %v, want [%s]", name, g, wg)
		}
	}
	return ""
}

func waitConverged(t *testing.T, r *running, want map[string]scim.User, people int, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		m := mismatch(ctx, r.st, want, people)
		if m == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged after %s: %s", timeout, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOfflineGatewayConvergesAfter1000Changes(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("gw", false, map[string]gateway.Entity{"app1": w.entity("gw", "app1", "ENTRA.APP1")})
	// The gateway has run before (its durable exists), then goes offline.
	r := w.start(cfg)
	w.publish("ENTRA.APP1", nextID(), msg(wire.CreateUser, person("early@acme.com")))
	r.waitEvents(t, 1)
	r.stop()

	const people = 200
	msgs, want := changes(1000, people)
	for _, m := range msgs {
		w.publish("ENTRA.APP1", nextID(), m)
	}
	r = w.start(cfg)
	waitConverged(t, r, want, people, 60*time.Second)
	evs := r.waitEvents(t, 1000)
	for _, e := range evs {
		if e.Action == gateway.ActionTerminated || e.Action == gateway.ActionRetrying {
			t.Fatalf("unexpected %s: %v", e.Action, e.Err)
		}
	}
	if len(evs) != 1000 {
		t.Errorf("%d messages handled, want exactly the 1000 published while offline", len(evs))
	}
}

func TestEndpointDownMidRunLosesNothing(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("gw", false, map[string]gateway.Entity{"app1": w.entity("gw", "app1", "ENTRA.APP1")})
	const people = 100
	msgs, want := changes(400, people)
	var applied atomic.Int64
	retries := make(chan gateway.Event, 1000)
	r := w.startHook(cfg, func(e gateway.Event) {
		if e.Action == gateway.ActionRetrying {
			retries <- e
		} else {
			applied.Add(1)
		}
	})
	go func() {
		for _, m := range msgs {
			w.publish("ENTRA.APP1", nextID(), m)
		}
	}()
	for applied.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	if err := r.st.Suspend(); err != nil { // the endpoint goes down mid-run
		t.Fatal(err)
	}
	select {
	case e := <-retries:
		if e.Err == nil {
			t.Fatal("retrying event without the error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no retry while the endpoint was down")
	}
	time.Sleep(time.Second) // several back-off rounds
	downFor := applied.Load()
	if err := r.st.Resume(); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, r, want, people, 60*time.Second)
	if downFor >= 400 {
		t.Fatalf("all messages were applied before the endpoint went down; the test proves nothing")
	}
	t.Logf("applied %d before/while down, %d retries", downFor, len(retries))
}

// TestRetriesCountOneDeliveryEach: while the endpoint is down, each retry is one redelivery of the message. A
// message handed back while its pull is still open would be redelivered into that pull and bounce, each bounce
// a delivery that doubles the back-off without a retry.
func TestRetriesCountOneDeliveryEach(t *testing.T) {
	w := newWorld(t)
	cfg := w.config("gw", true, map[string]gateway.Entity{"app1": w.entity("gw", "app1", "ENTRA.APP1")})
	retries := make(chan gateway.Event, 100)
	r := w.startRetry(cfg, func(e gateway.Event) {
		if e.Action == gateway.ActionRetrying {
			retries <- e
		}
	}, 100*time.Millisecond, 100*time.Millisecond)
	if err := r.st.Suspend(); err != nil {
		t.Fatal(err)
	}
	w.publish("ENTRA.APP1", "bounce-1", msg(wire.CreateUser, person("bounce@acme.com")))
	for i := range 4 {
		select {
		case <-retries:
		case <-time.After(30 * time.Second):
			t.Fatalf("retry %d never came:\n%s", i+1, r.log)
		}
	}
	if err := r.st.Resume(); err != nil {
		t.Fatal(err)
	}
	r.waitEvents(t, 5)
	var deliveries []string
	for _, line := range strings.Split(r.log.String(), "\n") {
		if strings.Contains(line, "endpoint failed") {
			_, after, _ := strings.Cut(line, " delivery=")
			d, _, _ := strings.Cut(after, " ")
			deliveries = append(deliveries, d)
		}
	}
	if len(deliveries) < 4 || !slices.Equal(deliveries[:4], []string{"1", "2", "3", "4"}) {
		t.Fatalf("deliveries of the failed message %v, want 1 2 3 4 (one per retry)", deliveries)
	}
	r.user(t, "bounce@acme.com")
}
