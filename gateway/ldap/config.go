package ldap

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/config"
)

// Directory kinds with built-in defaults.
const (
	OpenLDAP        = "openldap"
	ActiveDirectory = "active_directory"
)

// Config is the `endpoint:` section of type ldap.
type Config struct {
	Type string `yaml:"type"`
	// URLs are ldap:// or ldaps:// URLs tried in order (failover).
	URLs []string `yaml:"urls"`
	// StartTLS upgrades ldap:// connections with the StartTLS extended operation.
	StartTLS bool `yaml:"start_tls"`
	TLS      TLS  `yaml:"tls"`
	Bind     Bind `yaml:"bind"`
	// Directory selects the defaults: openldap (inetOrgPerson, groupOfNames) or active_directory.
	Directory string        `yaml:"directory"`
	Timeout   time.Duration `yaml:"timeout"`
	// PageSize is the simple paged results size for listing (RFC 2696); AD's MaxPageSize is 1000.
	PageSize int    `yaml:"page_size"`
	Users    Users  `yaml:"users"`
	Groups   Groups `yaml:"groups"`
}

// TLS configures the server certificate check and the client certificate (SASL EXTERNAL).
type TLS struct {
	CA                 string `yaml:"ca"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Bind is how the gateway authenticates: simple (dn + password) or external (SASL EXTERNAL with the TLS client
// certificate).
type Bind struct {
	Method   string        `yaml:"method"`
	DN       string        `yaml:"dn"`
	Password config.Secret `yaml:"password"`
}

// Users configures where users live and how SCIM attributes map to LDAP attributes.
type Users struct {
	BaseDN string `yaml:"base_dn"`
	// Filter selects user entries below base_dn.
	Filter        string   `yaml:"filter"`
	ObjectClasses []string `yaml:"object_classes"`
	// RDN is the template of the entry's name relative to base_dn, e.g. "uid={userName}" or
	// "CN={displayName|userName}"; more than one RDN ("cn={displayName},ou={urn:…:User:department}") places
	// users in sub-containers. When its result changes, the entry is renamed or moved.
	RDN string `yaml:"rdn"`
	// IDAttribute holds the SCIM id: entryUUID (OpenLDAP), objectGUID (AD), or any unique attribute.
	IDAttribute string `yaml:"id_attribute"`
	// Map is SCIM attribute path → LDAP attribute, merged over the directory's defaults; an empty value removes
	// a default mapping.
	Map map[string]string `yaml:"map"`
	// Fill gives a template for LDAP attributes the schema requires when the map leaves them empty (sn and cn
	// of inetOrgPerson); a value equal to its fill reads back as absent.
	Fill map[string]string `yaml:"fill"`
	// PasswordModify sets userPassword with the Password Modify extended operation (RFC 3062), so that the
	// server hashes it by its own policy instead of storing the clear text (default true for openldap).
	PasswordModify *bool `yaml:"password_modify"`
}

// Groups configures where groups live.
type Groups struct {
	BaseDN        string            `yaml:"base_dn"`
	Filter        string            `yaml:"filter"`
	ObjectClasses []string          `yaml:"object_classes"`
	RDN           string            `yaml:"rdn"`
	IDAttribute   string            `yaml:"id_attribute"`
	Map           map[string]string `yaml:"map"`
	// MemberAttribute holds members' DNs (member, uniqueMember).
	MemberAttribute string `yaml:"member_attribute"`
	// EmptyMember is kept as a member of every group whose object class requires one (groupOfNames MUST
	// member); it never shows as a SCIM member. Unset means the class allows empty groups (AD).
	EmptyMember *string `yaml:"empty_member"`
	// RenameMembers rewrites members' DNs in groups when a user is renamed or moved; AD does it by itself,
	// OpenLDAP does only with the refint overlay.
	RenameMembers *bool `yaml:"rename_members"`
}

func defaults(dir string) Config {
	yes, no, empty := true, false, ""
	switch dir {
	case ActiveDirectory:
		return Config{PageSize: 1000, Users: Users{
			Filter:        "(&(objectClass=user)(!(objectClass=computer)))",
			ObjectClasses: []string{"top", "person", "organizationalPerson", "user"},
			RDN:           "CN={displayName|userName}",
			IDAttribute:   "objectGUID",
			Map: map[string]string{
				"userName":                             "userPrincipalName",
				"sAMAccountName":                       "sAMAccountName",
				"displayName":                          "displayName",
				"name.givenName":                       "givenName",
				"name.familyName":                      "sn",
				"title":                                "title",
				"active":                               "userAccountControl",
				"password":                             "unicodePwd",
				"externalId":                           "employeeID",
				"preferredLanguage":                    "preferredLanguage",
				`emails[type eq "work"].value`:         "mail",
				`phoneNumbers[type eq "work"].value`:   "telephoneNumber",
				`phoneNumbers[type eq "mobile"].value`: "mobile",
				enterprise + ":employeeNumber":         "employeeNumber",
				enterprise + ":department":             "department",
				enterprise + ":organization":           "company",
			},
		}, Groups: Groups{
			Filter:          "(objectClass=group)",
			ObjectClasses:   []string{"top", "group"},
			RDN:             "CN={displayName}",
			IDAttribute:     "objectGUID",
			Map:             map[string]string{"displayName": "cn", "description": "description"},
			MemberAttribute: "member",
			RenameMembers:   &no,
		}}
	}
	return Config{PageSize: 500, Users: Users{
		Filter:        "(objectClass=inetOrgPerson)",
		ObjectClasses: []string{"top", "person", "organizationalPerson", "inetOrgPerson"},
		RDN:           "uid={userName}",
		IDAttribute:   "entryUUID",
		Map: map[string]string{
			"userName":                             "uid",
			"displayName":                          "displayName",
			"name.givenName":                       "givenName",
			"name.familyName":                      "sn",
			"title":                                "title",
			"active":                               "pwdAccountLockedTime",
			"password":                             "userPassword",
			"externalId":                           "employeeNumber",
			"preferredLanguage":                    "preferredLanguage",
			`emails[type eq "work"].value`:         "mail",
			`phoneNumbers[type eq "work"].value`:   "telephoneNumber",
			`phoneNumbers[type eq "mobile"].value`: "mobile",
			enterprise + ":department":             "departmentNumber",
			enterprise + ":organization":           "o",
		},
		Fill:           map[string]string{"cn": "{displayName|userName}", "sn": "{name.familyName|userName}"},
		PasswordModify: &yes,
	}, Groups: Groups{
		Filter:          "(objectClass=groupOfNames)",
		ObjectClasses:   []string{"top", "groupOfNames"},
		RDN:             "cn={displayName}",
		IDAttribute:     "entryUUID",
		Map:             map[string]string{"displayName": "cn", "description": "description"},
		MemberAttribute: "member",
		EmptyMember:     &empty,
		RenameMembers:   &yes,
	}}
}

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// Decode reads an `endpoint:` node of type ldap and fills in the directory's defaults.
func Decode(node *yaml.Node) (Config, error) {
	var cfg Config
	if node == nil {
		return cfg, fmt.Errorf("endpoint (type ldap): the endpoint section is missing: add endpoint.urls and endpoint.users.base_dn")
	}
	raw, err := yaml.Marshal(node)
	if err != nil {
		return cfg, fmt.Errorf("endpoint (type ldap): %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("endpoint (type ldap): %w", err)
	}
	if err := cfg.complete(); err != nil {
		return cfg, fmt.Errorf("endpoint (type ldap): %w", err)
	}
	return cfg, nil
}

// complete validates cfg and fills unset keys from the directory's defaults.
func (cfg *Config) complete() error {
	switch strings.ToLower(cfg.Directory) {
	case "", OpenLDAP:
		cfg.Directory = OpenLDAP
	case ActiveDirectory, "ad":
		cfg.Directory = ActiveDirectory
	default:
		return fmt.Errorf("endpoint.directory: %q is not openldap or active_directory", cfg.Directory)
	}
	d := defaults(cfg.Directory)
	if len(cfg.URLs) == 0 {
		return fmt.Errorf("endpoint.urls: at least one URL is required, e.g. ldaps://dc1.example.com:636")
	}
	for i, u := range cfg.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "ldap" && p.Scheme != "ldaps") || p.Host == "" {
			return fmt.Errorf("endpoint.urls[%d]: %q is not an ldap:// or ldaps:// URL", i, u)
		}
		if p.Scheme == "ldaps" && cfg.StartTLS {
			return fmt.Errorf("endpoint.start_tls: %s is ldaps:// already; use ldap:// with start_tls", u)
		}
	}
	switch strings.ToLower(cfg.Bind.Method) {
	case "", "simple":
		cfg.Bind.Method = "simple"
		if cfg.Bind.DN == "" {
			return fmt.Errorf("endpoint.bind.dn: required for bind.method simple (or use bind.method external with a TLS client certificate)")
		}
	case "external":
		cfg.Bind.Method = "external"
		if cfg.TLS.Cert == "" {
			return fmt.Errorf("endpoint.tls.cert: bind.method external authenticates with a TLS client certificate: set tls.cert and tls.key")
		}
	default:
		return fmt.Errorf("endpoint.bind.method: %q is not simple or external", cfg.Bind.Method)
	}
	if (cfg.TLS.Cert == "") != (cfg.TLS.Key == "") {
		return fmt.Errorf("endpoint.tls: cert and key go together")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = d.PageSize
	}
	if err := completeUsers(&cfg.Users, d.Users); err != nil {
		return err
	}
	if err := completeGroups(&cfg.Groups, d.Groups, cfg.Users.IDAttribute); err != nil {
		return err
	}
	if !cfg.tls() {
		for p, a := range cfg.Users.Map {
			if p == "password" && strings.EqualFold(a, "unicodePwd") {
				return fmt.Errorf("endpoint.users.map.password: Active Directory takes unicodePwd over TLS only: use an ldaps:// URL or start_tls: true, or map password to \"\"")
			}
		}
	}
	return nil
}

// tls reports whether every connection is encrypted.
func (cfg *Config) tls() bool {
	if cfg.StartTLS {
		return true
	}
	for _, u := range cfg.URLs {
		if !strings.HasPrefix(strings.ToLower(u), "ldaps://") {
			return false
		}
	}
	return true
}

func completeUsers(u *Users, d Users) error {
	if u.BaseDN == "" {
		return fmt.Errorf("endpoint.users.base_dn: required, e.g. ou=people,dc=example,dc=com")
	}
	if u.Filter == "" {
		u.Filter = d.Filter
	}
	if len(u.ObjectClasses) == 0 {
		u.ObjectClasses = d.ObjectClasses
	}
	if u.RDN == "" {
		u.RDN = d.RDN
	}
	if u.IDAttribute == "" {
		u.IDAttribute = d.IDAttribute
	}
	u.Map = mergeMap(d.Map, u.Map)
	u.Fill = mergeMap(d.Fill, u.Fill)
	if u.PasswordModify == nil {
		u.PasswordModify = d.PasswordModify
	}
	if _, ok := u.Map["userName"]; !ok {
		return fmt.Errorf("endpoint.users.map.userName: userName must map to an LDAP attribute (uid, userPrincipalName, sAMAccountName)")
	}
	if _, err := parseTemplate(u.RDN); err != nil {
		return fmt.Errorf("endpoint.users.rdn: %w", err)
	}
	for a, f := range u.Fill {
		if _, err := parseTemplate(f); err != nil {
			return fmt.Errorf("endpoint.users.fill.%s: %w", a, err)
		}
	}
	return checkPaths("endpoint.users.map", u.Map)
}

func completeGroups(g *Groups, d Groups, userID string) error {
	if g.BaseDN == "" {
		return fmt.Errorf("endpoint.groups.base_dn: required, e.g. ou=groups,dc=example,dc=com")
	}
	if g.Filter == "" {
		g.Filter = d.Filter
	}
	if len(g.ObjectClasses) == 0 {
		g.ObjectClasses = d.ObjectClasses
	}
	if g.RDN == "" {
		g.RDN = d.RDN
	}
	if g.IDAttribute == "" {
		g.IDAttribute = userID
	}
	if g.MemberAttribute == "" {
		g.MemberAttribute = d.MemberAttribute
	}
	if g.EmptyMember == nil {
		g.EmptyMember = d.EmptyMember
	}
	if g.RenameMembers == nil {
		g.RenameMembers = d.RenameMembers
	}
	g.Map = mergeMap(d.Map, g.Map)
	if _, ok := g.Map["displayName"]; !ok {
		return fmt.Errorf("endpoint.groups.map.displayName: displayName must map to an LDAP attribute (cn)")
	}
	if _, err := parseTemplate(g.RDN); err != nil {
		return fmt.Errorf("endpoint.groups.rdn: %w", err)
	}
	return checkPaths("endpoint.groups.map", g.Map)
}

// mergeMap returns defaults overridden by the configured entries; an empty value removes an entry.
func mergeMap(defaults, configured map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range configured {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
