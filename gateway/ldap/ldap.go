// Package ldap is the gateway endpoint of type "ldap": users and groups in an LDAP directory, with defaults for
// OpenLDAP (inetOrgPerson, groupOfNames, entryUUID as id, ppolicy lock for active) and for Active Directory
// (userPrincipalName, sAMAccountName, userAccountControl for active, unicodePwd over TLS only, objectGUID as id).
//
// Result codes map to the gateway's sentinels: noSuchObject → ErrNotFound, entryAlreadyExists → ErrConflict,
// schema and value violations → ErrInvalid (the subscriber terms the message), a server that is down, busy or
// refuses the bind → ErrUnavailable (the subscriber retries).
package ldap

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	ldap "github.com/go-ldap/ldap/v3"
	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
)

// Type is the endpoint type in the gateway configuration (`endpoint: {type: ldap}`).
const Type = "ldap"

// OpenConfig opens the endpoint of an `endpoint:` configuration node: it is this package's endpoint.Factory.
func OpenConfig(ctx context.Context, node *yaml.Node, env endpoint.Env) (endpoint.Endpoint, error) {
	cfg, err := Decode(node)
	if err != nil {
		return nil, err
	}
	return Open(ctx, cfg, env)
}

// Endpoint provisions an LDAP directory. It is safe for concurrent use.
type Endpoint struct {
	cfg    Config
	conns  *conns
	log    *slog.Logger
	users  attrMap
	groups attrMap

	userRDN, groupRDN       template
	userAttrs, groupAttrs   []string // attributes read for a user or group
	userNameAttr, groupName string   // LDAP attributes of userName and the group's displayName
}

var _ endpoint.Endpoint = (*Endpoint)(nil)

// Open prepares the endpoint from a completed Config (Decode). It does not connect: a gateway starts while its
// directory is down, and operations fail with endpoint.ErrUnavailable until it is back.
func Open(_ context.Context, cfg Config, env endpoint.Env) (*Endpoint, error) {
	if cfg.Directory == "" {
		if err := cfg.complete(); err != nil {
			return nil, fmt.Errorf("endpoint (type ldap): %w", err)
		}
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cs, err := newConns(cfg, env.Dir, log)
	if err != nil {
		return nil, fmt.Errorf("endpoint (type ldap): %w", err)
	}
	e := &Endpoint{
		cfg: cfg, conns: cs, log: log,
		users:    compileMap(cfg.Users.Map, cfg.Users.Fill),
		groups:   compileMap(cfg.Groups.Map, nil),
		userRDN:  mustTemplate(cfg.Users.RDN),
		groupRDN: mustTemplate(cfg.Groups.RDN),
	}
	e.userNameAttr = e.users.attr("userName")
	e.groupName = e.groups.attr("displayName")
	e.userAttrs = attrList(cfg.Users.Map, []string{cfg.Users.IDAttribute, "objectClass"}, sortedKeys(cfg.Users.Fill))
	e.groupAttrs = attrList(cfg.Groups.Map, []string{cfg.Groups.IDAttribute, "objectClass", cfg.Groups.MemberAttribute})
	return e, nil
}

// attrList is the mapped LDAP attributes plus extra ones, without duplicates. Operational attributes (entryUUID,
// pwdAccountLockedTime) are only returned when asked for by name.
func attrList(m map[string]string, extra ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			out = append(out, a)
		}
	}
	for _, k := range sortedKeys(m) {
		add(m[k])
	}
	for _, x := range extra {
		for _, a := range x {
			add(a)
		}
	}
	return out
}

// Close closes the connection.
func (e *Endpoint) Close() error { return e.conns.close() }

// search runs a subtree (or base) search; paged searches use the simple paged results control so that
// directories with a size limit (AD: 1000) return everything.
func (e *Endpoint) search(ctx context.Context, base string, scope int, filter string, attrs []string, paged bool) ([]*ldap.Entry, error) {
	var entries []*ldap.Entry
	err := e.run(ctx, func(c *ldap.Conn) error {
		req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
		var res *ldap.SearchResult
		var err error
		if paged {
			res, err = c.SearchWithPaging(req, uint32(e.cfg.PageSize))
		} else {
			res, err = c.Search(req)
		}
		if err != nil {
			return err
		}
		entries = res.Entries
		return nil
	})
	return entries, err
}

// byDN reads one entry; a missing entry is ErrNotFound.
func (e *Endpoint) byDN(ctx context.Context, dn, filter string, attrs []string) (*ldap.Entry, error) {
	es, err := e.search(ctx, dn, ldap.ScopeBaseObject, filter, attrs, false)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("entry %q does not match %s: %w", dn, filter, endpoint.ErrNotFound)
	}
	return es[0], nil
}

// dnOf renders the entry name from its template below base.
func dnOf(t template, u map[string]any, base string) (string, error) {
	rel, err := t.render(u, ldap.EscapeDN)
	if err != nil {
		return "", fmt.Errorf("rdn: %v: %w", err, endpoint.ErrInvalid)
	}
	return rel + "," + base, nil
}

// normDN is a DN's comparison key (attribute types and values case-folded, escapes normalized).
func normDN(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	return strings.ToLower(d.String())
}

// move renames (and, when the parent differs, moves) the entry at from to to.
func (e *Endpoint) move(c *ldap.Conn, from, to string) error {
	nd, err := ldap.ParseDN(to)
	if err != nil || len(nd.RDNs) == 0 {
		return fmt.Errorf("new DN %q: %v: %w", to, err, endpoint.ErrInvalid)
	}
	od, err := ldap.ParseDN(from)
	if err != nil {
		return fmt.Errorf("DN %q: %v: %w", from, err, endpoint.ErrInvalid)
	}
	newSup := ""
	np := &ldap.DN{RDNs: nd.RDNs[1:]}
	if len(od.RDNs) == 0 || !np.EqualFold(&ldap.DN{RDNs: od.RDNs[1:]}) {
		newSup = np.String()
	}
	return c.ModifyDN(ldap.NewModifyDNRequest(from, nd.RDNs[0].String(), true, newSup))
}

// withRDNValues adds the naming values of dn to attrs: the directory requires them in the entry.
func withRDNValues(dn string, attrs map[string][]string) {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		return
	}
	for _, atv := range d.RDNs[0].Attributes {
		key := atv.Type
		for k := range attrs {
			if strings.EqualFold(k, atv.Type) {
				key = k
			}
		}
		found := false
		for _, v := range attrs[key] {
			if strings.EqualFold(v, atv.Value) {
				found = true
			}
		}
		if !found {
			attrs[key] = append(attrs[key], atv.Value)
		}
	}
}
