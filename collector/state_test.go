package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/scim"
)

// newTestKV starts a bare JetStream server (no auth: the broker package tests isolation) and returns a bucket.
func newTestKV(t *testing.T) jetstream.KeyValue {
	t.Helper()
	return brokertest.BareKV(t, "state_test")
}

func TestStateUserRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := NewState(newTestKV(t))
	if us, err := st.User(ctx, "emp 1/ø"); err != nil || us != nil {
		t.Fatalf("unknown user: got %v, %v; want nil, nil", us, err)
	}
	want := &UserState{Key: "emp 1/ø", User: scim.User{"userName": "a@b", "active": true}}
	if err := st.PutUser(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := st.User(ctx, "emp 1/ø")
	if err != nil || got == nil || got.User["userName"] != "a@b" || got.User["active"] != true {
		t.Fatalf("got %+v, %v", got, err)
	}
	if err := st.DeleteUser(ctx, "emp 1/ø"); err != nil {
		t.Fatal(err)
	}
	if us, err := st.User(ctx, "emp 1/ø"); err != nil || us != nil {
		t.Fatalf("deleted user: got %v, %v", us, err)
	}
}

func TestStateReserveIsAtomicAndIdempotentPerOwner(t *testing.T) {
	ctx := context.Background()
	st := NewState(newTestKV(t))
	ok, err := st.Reserve(ctx, "userPrincipalName", "John.Smith@x", "p1")
	if err != nil || !ok {
		t.Fatalf("first reserve: %v %v", ok, err)
	}
	if ok, _ := st.Reserve(ctx, "userPrincipalName", "john.smith@x", "p1"); !ok {
		t.Fatal("the owner must get its own value back")
	}
	if ok, _ := st.Reserve(ctx, "userPrincipalName", "JOHN.SMITH@X", "p2"); ok {
		t.Fatal("another owner got a taken value (case-insensitive)")
	}
	if ok, _ := st.Reserve(ctx, "sAMAccountName", "john.smith@x", "p2"); !ok {
		t.Fatal("values are unique per attribute, not across attributes")
	}

	// 50 owners race for the same value: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("racer", i)
			if ok, err := st.Reserve(ctx, "mail", "race@x", owner); err != nil {
				t.Error(err)
			} else if ok {
				wins <- owner
			}
		}()
	}
	wg.Wait()
	close(wins)
	if n := len(wins); n != 1 {
		t.Fatalf("%d owners won the same value, want 1", n)
	}
}

func TestCheckpoints(t *testing.T) {
	ctx := context.Background()
	cp := NewState(newTestKV(t)).Checkpoints()
	if v, err := cp.Get(ctx, "users/delta link"); err != nil || v != nil {
		t.Fatalf("absent checkpoint: %q %v", v, err)
	}
	if err := cp.Put(ctx, "users/delta link", []byte("https://graph/x?$deltatoken=1")); err != nil {
		t.Fatal(err)
	}
	if v, _ := cp.Get(ctx, "users/delta link"); string(v) != "https://graph/x?$deltatoken=1" {
		t.Fatalf("got %q", v)
	}
}

// The in-memory digests name the same KV keys as hashKey, so state written before stays readable.
func TestDigestIsHashKey(t *testing.T) {
	for _, s := range []string{"", "emp 1/ø", "userPrincipalName"} {
		if got := digestOf(s).String(); got != hashKey(s) {
			t.Errorf("digestOf(%q) = %s, hashKey = %s", s, got, hashKey(s))
		}
		if d, ok := parseDigest(hashKey(s)); !ok || d != digestOf(s) {
			t.Errorf("parseDigest(hashKey(%q)) = %v, %v", s, d, ok)
		}
	}
}

func TestUserStateJSONIsEncodingJSON(t *testing.T) {
	for _, us := range []UserState{
		{Key: "emp 1/ø", User: scim.User{"userName": "a@b", "active": true}},
		{Key: "k", User: scim.User{"groups": []any{}}, Dynamics: json.RawMessage(`{"ids":["dyn-managers"]}`), Gone: true, Revision: 9},
		{},
	} {
		want, err := json.Marshal(&us)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := us.appendJSON(nil); err != nil || !bytes.Equal(got, want) {
			t.Errorf("got  %s (%v)\nwant %s", got, err, want)
		}
	}
}
