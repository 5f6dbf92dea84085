package broker_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/scim-stream/scim-stream/broker/brokertest"
)

// logBuf collects the broker's log for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitLog waits until the log holds a line containing every part.
func (l *logBuf) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(l.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no broker log line contains all of %q", parts)
}

// startLogged starts a broker for tenants whose log goes to the returned buffer.
func startLogged(t *testing.T, tenants ...string) (*brokertest.Env, *logBuf) {
	lb := &logBuf{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return brokertest.StartWith(t, brokertest.Config(t, tenants...), t.TempDir(), log), lb
}

// client is a connection whose asynchronous errors (permission violations) are collected.
type client struct {
	*nats.Conn
	errs chan error
}

func connect(t *testing.T, env *brokertest.Env, jwt, seed string) *client {
	t.Helper()
	c := &client{errs: make(chan error, 64)}
	c.Conn = env.Connect(t, jwt, seed, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case c.errs <- err:
		default:
		}
	}))
	return c
}

// denied asserts that the server refused what the client just did on subject with a permissions violation.
func (c *client) denied(t *testing.T, subject string) {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-timeout:
			t.Fatalf("no permissions violation for %q", subject)
		}
	}
}

// deniedPub publishes (as a request would) to subject and asserts the violation.
func (c *client) deniedPub(t *testing.T, subject string, data string) {
	t.Helper()
	if err := c.Publish(subject, []byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	c.denied(t, subject)
}
