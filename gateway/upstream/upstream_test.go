package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/endpointtest"
	"github.com/scim-stream/scim-stream/gateway/scimserver"
	"github.com/scim-stream/scim-stream/gateway/store"
)

// openYAML opens the endpoint the way the gateway does: from its `endpoint:` YAML through the registry.
func openYAML(t testing.TB, doc string, dir string) endpoint.Endpoint {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	ep, err := OpenConfig(context.Background(), n.Content[0], endpoint.Env{Dir: dir, Name: "test"})
	if err != nil {
		t.Fatalf("open endpoint: %v", err)
	}
	return ep
}

type yamlNode struct{ root *yaml.Node }

func (n *yamlNode) parse(t *testing.T, doc string) {
	t.Helper()
	var d yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	n.root = d.Content[0]
}

// TestConformanceAgainstGatewayServer chains gateways: the upstream endpoint talks to another scim-stream
// gateway's SCIM server (over its store), with basic auth.
func TestConformanceAgainstGatewayServer(t *testing.T) {
	srv := httptest.NewServer(gatewayServer(t, scimserver.Auth{
		Basic: []scimserver.BasicAuth{{Username: "gwadmin", Password: "gw-password"}},
	}))
	t.Cleanup(srv.Close)
	endpointtest.Run(t, func(t *testing.T) endpoint.Endpoint {
		return openYAML(t, "type: scim\nbase_urls: ["+srv.URL+"]\nauth: {type: basic, username: gwadmin, password: gw-password}\npage_size: 4\n", t.TempDir())
	})
}

// gatewayServer is scim-stream's own SCIM server over a fresh store: the upstream application of these tests.
func gatewayServer(t *testing.T, auth scimserver.Auth) http.Handler {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return scimserver.NewServer(st, scimserver.ServerOptions{Auth: auth})
}

func newStoreServer(t *testing.T) http.Handler { return gatewayServer(t, scimserver.Auth{}) }
