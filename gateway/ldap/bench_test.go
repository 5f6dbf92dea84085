package ldap

import (
	"context"
	"fmt"
	"testing"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scim-stream/scim-stream/scim"
)

// BenchmarkCreateAndFind measures the endpoint against slapd next to its baseline in the same run: the raw
// go-ldap operations that store the same entry (Add) and read it (Search). The ratio is the endpoint's cost
// (uniqueness lookup, mapping, read-back with groups) over one directory round trip.
func BenchmarkCreateAndFind(b *testing.B) {
	s := startSlapd(b)
	ep := openYAML(b, openLDAPConfig(s))
	defer ep.Close()
	ctx := context.Background()
	user := func(i int, tag string) scim.User {
		return scim.User{"userName": fmt.Sprintf("%s%d@example.com", tag, i), "displayName": "Bench User", "active": true,
			"name":   map[string]any{"givenName": "Bench", "familyName": "User"},
			"emails": []any{map[string]any{"type": "work", "value": fmt.Sprintf("%s%d@example.com", tag, i)}}}
	}
	c, err := ldap.DialURL(s.url)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(adminDN, adminPW); err != nil {
		b.Fatal(err)
	}
	// b.Run calls each function with growing b.N: names continue where the last call stopped.
	var raws, eps int
	b.Run("create/raw-add", func(b *testing.B) {
		for range b.N {
			raws++
			name := fmt.Sprintf("raw%d@example.com", raws)
			req := ldap.NewAddRequest("uid="+name+",ou=people,"+suffix, nil)
			req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
			for a, v := range map[string]string{"uid": name, "cn": "Bench User", "sn": "User", "givenName": "Bench", "displayName": "Bench User", "mail": name} {
				req.Attribute(a, []string{v})
			}
			if err := c.Add(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create/endpoint", func(b *testing.B) {
		for range b.N {
			eps++
			if _, err := ep.CreateUser(ctx, user(eps, "ep")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("find/raw-search", func(b *testing.B) {
		for i := range b.N {
			res, err := c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				"(&(objectClass=inetOrgPerson)(uid=ep1@example.com))", []string{"*", "entryUUID"}, nil))
			if err != nil || len(res.Entries) != 1 {
				b.Fatal(i, err)
			}
		}
	})
	b.Run("find/endpoint", func(b *testing.B) {
		for range b.N {
			if _, err := ep.FindUser(ctx, "ep1@example.com"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
