package ldap

import (
	"context"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/endpointtest"
)

func openYAML(t testing.TB, doc string) endpoint.Endpoint {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	ep, err := OpenConfig(context.Background(), n.Content[0], endpoint.Env{Dir: t.TempDir(), Name: "test"})
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
	endpointtest.Run(t, func(t *testing.T) endpoint.Endpoint { return openYAML(t, openLDAPConfig(s)) })
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

func TestConfigErrors(t *testing.T) {
	base := "type: ldap\nurls: [ldap://127.0.0.1:1]\nbind: {dn: x, password: y}\ngroups: {base_dn: \"ou=g\"}\n"
	for doc, want := range map[string]string{
		"type: ldap\n":                   "urls",
		"type: ldap\nurls: [http://x]\n": "urls[0]",
		base:                             "users.base_dn",
		base + "users: {base_dn: \"ou=p\", map: {userName: \"\"}}\n":                                                 "users.map.userName",
		base + "users: {base_dn: \"ou=p\", map: {externalId: uid}}\n":                                                "externalId and userName both map to uid",
		base + "users: {base_dn: \"ou=p\", rdn: \"uid={userName\"}\n":                                                "users.rdn",
		base + "users: {base_dn: \"ou=p\", map: {\"emails[type eq\": mail}}\n":                                       "users.map",
		base + "users: {base_dn: \"ou=p\"}\ndirectory: novell\n":                                                     "directory",
		base + "users: {base_dn: \"ou=p\"}\nbind_dn: x\n":                                                            "bind_dn",
		"type: ldap\nurls: [ldaps://x]\nbind: {method: external}\nusers: {base_dn: p}\ngroups: {base_dn: g}\n":       "tls.cert",
		"type: ldap\nurls: [ldaps://x]\nstart_tls: true\nbind: {dn: x}\nusers: {base_dn: p}\ngroups: {base_dn: g}\n": "start_tls",
	} {
		var n yamlNode
		n.parse(t, doc)
		_, err := OpenConfig(context.Background(), n.root, endpoint.Env{Dir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", doc, err, want)
		}
	}
}
