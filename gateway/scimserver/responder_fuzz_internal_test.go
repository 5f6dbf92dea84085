package scimserver

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// FuzzResponderRequest feeds arbitrary GW request payloads to the responder's request handling: whatever arrives,
// it answers with a reply in the Node gateway's shape (an error, or a status from 100 to 599), never a panic.
func FuzzResponderRequest(f *testing.F) {
	for _, s := range []string{
		`{"ctx":{"request":{"method":"GET","url":"/Users?filter=userName%20eq%20%22a%22","headers":{"host":"gw"}},"routeObj":{"handle":"users"}},"baseEntity":"undefined"}`,
		`{"ctx":{"request":{"method":"POST","url":"/Users","body":{"userName":"a"}}},"baseEntity":"client-a"}`,
		`{"ctx":{"request":{"method":"PATCH","url":"/Groups/x","body":"{\"Operations\":[]}","headers":{"content-type":"text/plain"}}}}`,
		`{"ctx":{"request":{"method":"GET"},"path":"/ping"}}`,
		`{"ctx":{"request":{"method":"GET","url":"http://evil.example.com/Users"}}}`,
		`{"ctx":{"request":{"method":"DELETE","url":"/Users/%2e%2e"}}}`,
		`not json`, `[]`, `{"ctx":null}`,
	} {
		f.Add(s)
	}
	// No endpoint: requests are parsed and routed, and answered 404 by the server.
	r := &Responder{h: NewServer(nil, ServerOptions{}), opts: ResponderOptions{Timeout: 5 * time.Second, Log: slog.New(slog.DiscardHandler)}}
	f.Fuzz(func(t *testing.T, payload string) {
		m := nats.NewMsg(gwFuzzSubject)
		m.Data = []byte(payload)
		rep := r.execute(m)
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatalf("reply cannot be encoded: %v", err)
		}
		if rep.Error == "" && (rep.Status < 100 || rep.Status > 599) {
			t.Fatalf("payload %q: reply %s has neither an error nor a status", payload, b)
		}
	})
}

const gwFuzzSubject = "GW.FUZZ"
