package ldap

import (
	"context"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/endpointtest"
)

func openYAML(t testing.TB, doc string) gateway.Endpoint {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	ep, err := gateway.OpenEndpoint(context.Background(), Type, n.Content[0], gateway.EndpointEnv{Dir: t.TempDir(), Name: "test"})
	if err != nil {
		t.Fatalf("open endpoint: %v", err)
	}
	return ep
}

func openLDAPConfig(s *slapd) string {
	return `type: ldap
urls: [` + s.url + `]
bind: {dn: "` + adminDN + `", password: ` + adminPW + `}
page_size: 3
users: {base_dn: "ou=people,` + suffix + `"}
groups: {base_dn: "ou=groups,` + suffix + `"}
`
}

func TestConformanceOpenLDAP(t *testing.T) {
	s := startSlapd(t)
	endpointtest.Run(t, func(t *testing.T) gateway.Endpoint { return openYAML(t, openLDAPConfig(s)) })
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
