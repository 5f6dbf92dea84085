package entra

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t0k", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// A nextLink pointing elsewhere must not receive the bearer token.
func TestForeignLinkNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	defer other.Close()
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"value":[{"id":"1"}],"@odata.nextLink":"` + other.URL + `/v1.0/users?$skiptoken=x"}`))
	}))
	defer graph.Close()
	c := &client{http: graph.Client(), base: graph.URL + "/v1.0", cred: staticToken{}, scope: "s", timeout: time.Second,
		log: slog.New(slog.DiscardHandler), sleep: sleepCtx}
	_, err := all(context.Background(), c, "/users", func([]map[string]any) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "leaves the Graph host") {
		t.Fatalf("err = %v, want the foreign link refused", err)
	}
	if leaked.Load() {
		t.Fatal("bearer token sent to a foreign host")
	}
}

func TestRetryAfterParsing(t *testing.T) {
	if d := retryAfter("7"); d != 7*time.Second {
		t.Errorf("seconds: %v", d)
	}
	if d := retryAfter(time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)); d < time.Second || d > 3*time.Second {
		t.Errorf("HTTP date: %v", d)
	}
	if d := retryAfter("soon"); d != 0 {
		t.Errorf("garbage: %v", d)
	}
}
