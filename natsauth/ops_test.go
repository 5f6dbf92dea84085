package natsauth_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/natsauth"
	"github.com/scim-stream/scim-stream/wire"
)

// violations collects the broker's permission violations reported to a connection.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		v.mu.Lock()
		v.errs = append(v.errs, err.Error())
		v.mu.Unlock()
	}
}

// waitDenied waits until the broker reported a violation naming subject.
func (v *violations) waitDenied(t *testing.T, what, subject string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		v.mu.Lock()
		for _, e := range v.errs {
			if strings.Contains(e, `"`+subject+`"`) {
				v.mu.Unlock()
				return
			}
		}
		v.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s: no permission violation for %q reported (got %v)", what, subject, v.errs)
}

// TestOpsCredentialReadsOnlyMetadata: an ops user of an HR account lists and inspects streams, consumers and KV
// buckets, and is denied everything that publishes, acks, reads a message or changes the account's JetStream
// objects, and every subscription but its own inbox (subscribers' pulled messages arrive on _INBOX.>).
func TestOpsCredentialReadsOnlyMetadata(t *testing.T) {
	env := brokertest.Start(t, "acme")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub := env.JetStream(t, "acme", wire.HR)
	for i := 0; i < 3; i++ {
		if _, err := pub.Publish(ctx, "HR.SF", []byte(`{"user":{"userName":"secret-content@acme.com"}}`)); err != nil {
			t.Fatal(err)
		}
	}
	// A subscriber with a durable that has one message delivered and not acknowledged.
	durable := wire.DurableName("plugin-loki", "undefined")
	sj, ss := env.SubscriberCreds(t, "acme", wire.HR, durable)
	sjs, err := jetstream.New(env.Connect(t, sj, ss))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := sjs.CreateConsumer(ctx, "acme", jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: "HR.SF", DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := sc.Fetch(1, jetstream.FetchMaxWait(5*time.Second)); err != nil {
		t.Fatal(err)
	} else {
		for range b.Messages() {
		}
	}

	acc, err := natsauth.TenantAccount(env.Config, "acme", wire.HR)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := natsauth.IssueOps(acc, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var v violations
	nc := env.Connect(t, ops.JWT, ops.Seed.Reveal(), nats.CustomInboxPrefix(natsauth.OpsInbox), nats.ErrorHandler(v.handler))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// What works: nats stream ls / info, consumer ls / info, kv ls, account info.
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Errorf("account info: %v", err)
	}
	var names []string
	for n := range js.StreamNames(ctx).Name() {
		names = append(names, n)
	}
	if !slices.Contains(names, "acme") {
		t.Errorf("stream ls (names) = %v, want acme", names)
	}
	lister := js.ListStreams(ctx)
	var listed int
	for range lister.Info() {
		listed++
	}
	if lister.Err() != nil || listed != 1 {
		t.Errorf("stream ls (list) = %d streams, %v", listed, lister.Err())
	}
	stream, err := js.Stream(ctx, "acme")
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info := stream.CachedInfo(); info.State.Msgs != 3 {
		t.Errorf("stream info: %d messages, want 3", info.State.Msgs)
	}
	var consumers []string
	cl := stream.ListConsumers(ctx)
	for ci := range cl.Info() {
		consumers = append(consumers, ci.Name)
	}
	if cl.Err() != nil || !slices.Equal(consumers, []string{durable}) {
		t.Errorf("consumer ls = %v, %v", consumers, cl.Err())
	}
	cons, err := stream.Consumer(ctx, durable)
	if err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	if ci := cons.CachedInfo(); ci.NumPending != 2 || ci.NumAckPending != 1 {
		t.Errorf("consumer info: pending %d, ack pending %d; want 2 and 1", ci.NumPending, ci.NumAckPending)
	}
	kl := js.KeyValueStoreNames(ctx)
	for range kl.Name() {
	}
	if kl.Error() != nil {
		t.Errorf("kv ls: %v", kl.Error())
	}

	// What is denied. Each attempt is made and the broker's violation for its subject awaited.
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 500*time.Millisecond) }
	c1, cancel1 := short()
	defer cancel1()
	if _, err := js.Publish(c1, "HR.SF", []byte("{}")); err == nil {
		t.Error("publish to HR.SF succeeded")
	}
	v.waitDenied(t, "publish", "HR.SF")
	c2, cancel2 := short()
	defer cancel2()
	if m, err := stream.GetMsg(c2, 1); err == nil {
		t.Errorf("message get returned %q", m.Data)
	}
	v.waitDenied(t, "message get", "$JS.API.STREAM.MSG.GET.acme")
	nc.Publish("$JS.API.DIRECT.GET.acme", []byte(`{"seq":1}`))
	v.waitDenied(t, "direct get", "$JS.API.DIRECT.GET.acme")
	if b, err := cons.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond)); err == nil {
		for m := range b.Messages() {
			t.Errorf("pull delivered %q", m.Data())
		}
	}
	v.waitDenied(t, "pull", "$JS.API.CONSUMER.MSG.NEXT.acme."+durable)
	nc.Publish("$JS.ACK.acme."+durable+".1.1.1.0.0", nil)
	v.waitDenied(t, "ack", "$JS.ACK.acme."+durable+".1.1.1.0.0")
	c3, cancel3 := short()
	defer cancel3()
	if _, err := js.CreateConsumer(c3, "acme", jetstream.ConsumerConfig{Durable: "ops-made"}); err == nil {
		t.Error("consumer create succeeded")
	}
	v.waitDenied(t, "consumer create", "$JS.API.CONSUMER.CREATE.acme.ops-made")
	c4, cancel4 := short()
	defer cancel4()
	if err := stream.Purge(c4); err == nil {
		t.Error("stream purge succeeded")
	}
	v.waitDenied(t, "purge", "$JS.API.STREAM.PURGE.acme")
	c5, cancel5 := short()
	defer cancel5()
	if err := js.DeleteConsumer(c5, "acme", durable); err == nil {
		t.Error("consumer delete succeeded")
	}
	v.waitDenied(t, "consumer delete", "$JS.API.CONSUMER.DELETE.acme."+durable)
	for _, subj := range []string{"_INBOX.>", "HR.>", ">", "$JS.API.>"} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		v.waitDenied(t, "subscribe "+subj, subj)
	}
	// The subscriber's durable is untouched: its unacknowledged message and the two pending ones remain.
	ci, err := sc.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumPending != 2 || ci.NumAckPending != 1 || ci.AckFloor.Stream != 0 {
		t.Errorf("after the denied attempts the durable has pending %d, ack pending %d, ack floor %d; want 2, 1, 0",
			ci.NumPending, ci.NumAckPending, ci.AckFloor.Stream)
	}
}

// TestOpsCredentialSeesOnlyItsAccount: an ops user of one tenant's HR account sees only that account: the
// other tenant's stream does not exist for it.
func TestOpsCredentialSeesOnlyItsAccount(t *testing.T) {
	env := brokertest.Start(t, "acme", "initech")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acc, err := natsauth.TenantAccount(env.Config, "acme", wire.HR)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := natsauth.IssueOps(acc, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(env.Connect(t, ops.JWT, ops.Seed.Reveal(), nats.CustomInboxPrefix(natsauth.OpsInbox)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range js.StreamNames(ctx).Name() {
		names = append(names, n)
	}
	if !slices.Equal(names, []string{"acme"}) {
		t.Errorf("stream ls = %v, want only acme", names)
	}
	if _, err := js.Stream(ctx, "initech"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream info initech = %v, want stream not found", err)
	}
}
