package upstream

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/scim"
)

// BenchmarkUpstreamOverhead measures the scim endpoint forwarding to a gateway SCIM server over a store next to
// its baseline in the same run: the same store called directly. The ratio is the cost of the HTTP hop (JSON
// both ways, the server's routing) per operation.
func BenchmarkUpstreamOverhead(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "store.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(scimserver.NewServer(st, scimserver.ServerOptions{}))
	defer srv.Close()
	ep := openYAML(b, "type: scim\nbase_urls: ["+srv.URL+"]\n", b.TempDir())
	defer ep.Close()
	ctx := context.Background()
	user := func(tag string, i int) scim.User {
		return scim.User{"userName": fmt.Sprintf("%s%d@example.com", tag, i), "displayName": "Bench User", "active": true,
			"name": map[string]any{"givenName": "Bench", "familyName": "User"}}
	}
	counts := map[string]int{}
	for _, c := range []struct {
		name string
		ep   endpoint.Endpoint
	}{{"store", st}, {"upstream", ep}} {
		b.Run("create/"+c.name, func(b *testing.B) {
			for range b.N {
				counts[c.name]++
				if _, err := c.ep.CreateUser(ctx, user(c.name, counts[c.name])); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("find/"+c.name, func(b *testing.B) {
			for range b.N {
				if _, err := c.ep.FindUser(ctx, c.name+"1@example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
