package upstream

import (
	"context"
	"net/http/httptest"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpointtest"
)

// openYAML opens the endpoint the way the gateway does: from its `endpoint:` YAML through the registry.
func openYAML(t *testing.T, doc string, dir string) gateway.Endpoint {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	ep, err := gateway.OpenEndpoint(context.Background(), Type, n.Content[0], gateway.EndpointEnv{Dir: dir, Name: "test"})
	if err != nil {
		t.Fatalf("open endpoint: %v", err)
	}
	return ep
}

func TestConformanceAgainstStoreServer(t *testing.T) {
	srv := httptest.NewServer(newStoreServer(t))
	t.Cleanup(srv.Close)
	endpointtest.Run(t, func(t *testing.T) gateway.Endpoint {
		return openYAML(t, "type: scim\nbase_urls: ["+srv.URL+"]\npage_size: 7\n", t.TempDir())
	})
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
