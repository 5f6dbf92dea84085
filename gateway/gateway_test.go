package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/gateway"
)

func TestRunnerFailureStopsRun(t *testing.T) {
	cfg := gateway.SubscriberConfig("runner-test", t.TempDir(), nil, "", nil)
	cfg.Scimgateway.Stream.Subscriber.Enabled = false
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := options(nil)
	opts.Runners = map[string]gateway.Runner{"runner-test": func(ctx context.Context, g *gateway.Gateway) error {
		if g.Endpoint == nil {
			return errors.New("runner got no endpoint")
		}
		return errors.New("runner-test failed on purpose")
	}}
	err := gateway.Run(ctx, cfg, opts)
	if err == nil || !strings.Contains(err.Error(), "runner-test failed on purpose") {
		t.Fatalf("Run = %v, want the runner's error", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run waited for the deadline instead of stopping on the runner's error")
	}
}

func TestRunEndsCleanlyOnCancel(t *testing.T) {
	cfg := gateway.SubscriberConfig("idle", t.TempDir(), nil, "", nil)
	cfg.Scimgateway.Stream.Subscriber.Enabled = false
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Run(ctx, cfg, options(nil)) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
