package gateway

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/config"
)

// Config is a gateway configuration file. Its shape is the Node SCIM Gateway's plugin file (JSON), so an
// existing plugin config runs unchanged; the same keys may be written as YAML. Our additions are `name` and
// `endpoint.type` (plus the endpoint's own keys).
type Config struct {
	// Name is the gateway's name, used in durable consumer names (durable_<name>_<entity>) as the Node
	// gateway uses its plugin name. Default: the file name without extension ("plugin-loki.json" -> plugin-loki).
	Name        string      `yaml:"name"`
	Scimgateway Scimgateway `yaml:"scimgateway"`
	// Endpoint selects and configures the provisioned system; see EndpointConfig.
	Endpoint EndpointConfig `yaml:"endpoint"`

	// Path is the file the configuration came from ("" when built in code); Dir holds its certs/ and the
	// store file.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`
	// Raw is the whole document with secrets decrypted, for settings decoded by other parts (the SCIM
	// server's port, auth, certificate): use Decode.
	Raw *yaml.Node `yaml:"-"`
}

// Scimgateway is the `scimgateway` block.
type Scimgateway struct {
	// Port of the SCIM HTTP server; 0 starts no listener (a pure subscriber).
	Port   int         `yaml:"port"`
	Scim   ScimOptions `yaml:"scim"`
	Stream Stream      `yaml:"stream"`
}

// ScimOptions is `scimgateway.scim`.
type ScimOptions struct {
	// UsePutSoftSync makes updates change only the attributes a message carries (and add groups) instead of
	// replacing the user. Always on for HR.* subjects.
	UsePutSoftSync bool `yaml:"usePutSoftSync"`
}

// Stream is `scimgateway.stream`.
type Stream struct {
	// BaseURLs are the broker's NATS URLs (several for a cluster).
	BaseURLs    []string          `yaml:"baseUrls"`
	Certificate StreamCertificate `yaml:"certificate"`
	Subscriber  *Subscribers      `yaml:"subscriber,omitempty"`
	Publisher   *Subscribers      `yaml:"publisher,omitempty"`
}

// StreamCertificate is `stream.certificate`.
type StreamCertificate struct {
	// CA is the broker's CA file: absolute, or relative to <config dir>/certs (then <config dir>).
	CA string `yaml:"ca"`
}

// Subscribers is `stream.subscriber` (and, same shape, `stream.publisher`).
type Subscribers struct {
	Enabled bool `yaml:"enabled"`
	// Entity is keyed by baseEntity ("undefined" when the endpoint has none).
	Entity map[string]Entity `yaml:"entity"`
}

// Entity is one `stream.subscriber.entity.<baseEntity>`.
type Entity struct {
	NATS NATS `yaml:"nats"`
	// DeleteUserOnLastGroupRoleRemoval deletes the user when a message removes their last group or role.
	DeleteUserOnLastGroupRoleRemoval bool `yaml:"deleteUserOnLastGroupRoleRemoval,omitempty"`
	// SkipConvertRolesToGroups keeps roles as the user's roles attribute instead of group memberships.
	SkipConvertRolesToGroups bool `yaml:"skipConvertRolesToGroups,omitempty"`
	// GenerateUserPassword gives a created user a random password.
	GenerateUserPassword bool `yaml:"generateUserPassword,omitempty"`
	// ModifyOnly updates existing users only: no creates, no deletes.
	ModifyOnly bool `yaml:"modifyOnly,omitempty"`
	// ReplaceDomains rewrites the domain of userName and e-mail addresses.
	ReplaceDomains []ReplaceDomain `yaml:"replaceDomains,omitempty"`
}

// NATS is an entity's connection: the two halves of a .creds file plus where to read.
type NATS struct {
	Tenant  string `yaml:"tenant"`
	Subject string `yaml:"subject"`
	// JWT is the NATS user JWT; Secret its NKey seed (SU…), encrypted at rest.
	JWT    string        `yaml:"jwt"`
	Secret config.Secret `yaml:"secret"`
}

// ReplaceDomain is one `replaceDomains` entry; both start with "@".
type ReplaceDomain struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// EndpointConfig is the `endpoint` block: `type` picks one of the endpoint types in Options.Endpoints (default
// "store"), the rest is that endpoint's. A Node plugin's endpoint block (no type) therefore opens the store.
type EndpointConfig struct {
	Type string
	Node *yaml.Node
}

// UnmarshalYAML keeps the node for the endpoint's factory.
func (e *EndpointConfig) UnmarshalYAML(n *yaml.Node) error {
	e.Node = n
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "type" {
				e.Type = n.Content[i+1].Value
			}
		}
	}
	return nil
}

// DefaultEndpoint is the endpoint type used when `endpoint.type` is not set.
const DefaultEndpoint = "store"

// Decode decodes the value at a dotted key path of the file (e.g. "scimgateway.auth") into v; a missing key
// leaves v unchanged.
func (c *Config) Decode(path string, v any) error {
	n := c.Raw
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range strings.Split(path, ".") {
		var next *yaml.Node
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
				}
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	if err := n.Decode(v); err != nil {
		return fmt.Errorf("gateway config %s: %s: %w", c.Path, path, err)
	}
	return nil
}

// LoadConfig reads a gateway configuration (JSON or YAML). Clear-text secrets in the file are first encrypted in
// place; the returned Config holds them decrypted (and registered for log masking). Every problem is reported
// with its key path and line.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("gateway config %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("gateway config %s: must be an object with scimgateway and endpoint", path)
	}
	if err := openSecrets(path, data, doc.Content[0]); err != nil {
		return nil, err
	}
	c := &Config{}
	if err := doc.Content[0].Decode(c); err != nil {
		return nil, fmt.Errorf("gateway config %s: %w", path, err)
	}
	c.Path, c.Dir, c.Raw = path, filepath.Dir(path), &doc
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var (
	subjectRe = regexp.MustCompile(`^(ENTRA|HR|GW)(\.([^.\s*>]+|\*))*(\.>)?$`)
	// nameRe: the gateway name and entity keys become the durable name (durable_<name>_<entity>; '.', '*' and '>'
	// are mapped as the Node client does).
	nameRe = regexp.MustCompile(`^[^\s/\\]+$`)
	// A stream name must be a valid JetStream name (it is the tenant verbatim).
	tenantRe = regexp.MustCompile(`^[^.\s*>/\\]+$`)
)

// Validate checks the configuration, reporting every problem with its key path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, msg string, args ...any) {
		where := "gateway config"
		if c.Path != "" {
			where += " " + c.Path
		}
		errs = append(errs, fmt.Errorf("%s: %s: %s", where, path, fmt.Sprintf(msg, args...)))
	}
	if c.Name == "" {
		bad("name", "is mandatory when the configuration is not read from a file")
	} else if !nameRe.MatchString(c.Name) {
		bad("name", "%q cannot be part of a consumer name: no spaces or slashes (it defaults to the file name)", c.Name)
	}
	sub := c.Scimgateway.Stream.Subscriber
	if sub != nil && sub.Enabled {
		if len(c.Scimgateway.Stream.BaseURLs) == 0 {
			bad("scimgateway.stream.baseUrls", `is mandatory with an enabled subscriber, e.g. ["tls://scim-stream.example.com:9012"]`)
		}
		if len(sub.Entity) == 0 {
			bad("scimgateway.stream.subscriber.entity", "an enabled subscriber needs at least one entity (use \"undefined\" when there is no baseEntity)")
		}
		for name, e := range sub.Entity {
			p := "scimgateway.stream.subscriber.entity." + name
			if !nameRe.MatchString(name) {
				bad(p, "entity key %q cannot be part of a consumer name: no spaces or slashes (\"undefined\" when there is no baseEntity)", name)
			}
			if !tenantRe.MatchString(e.NATS.Tenant) {
				bad(p+".nats.tenant", "%q is not a tenant name (the SCIM Stream tenant, e.g. mycompany)", e.NATS.Tenant)
			}
			if !subjectRe.MatchString(e.NATS.Subject) {
				bad(p+".nats.subject", "%q is not a channel subject: use <ENTRA|HR|GW>.<channel>, e.g. ENTRA.APP1, HR.SF, ENTRA.AD.* or ENTRA.>", e.NATS.Subject)
			}
			var claims *jwt.UserClaims
			if e.NATS.JWT == "" {
				bad(p+".nats.jwt", "is mandatory: the user JWT from `scim-stream creds`")
			} else if uc, err := jwt.DecodeUserClaims(e.NATS.JWT); err != nil {
				bad(p+".nats.jwt", "is not a NATS user JWT (%v): paste the jwt that `scim-stream creds` printed", err)
			} else if uc.Expires > 0 && time.Unix(uc.Expires, 0).Before(time.Now()) {
				bad(p+".nats.jwt", "expired at %s: issue new creds with `scim-stream creds`", time.Unix(uc.Expires, 0).UTC().Format(time.RFC3339))
			} else {
				claims = uc
			}
			if e.NATS.Secret == "" {
				bad(p+".nats.secret", "is mandatory: the user seed (SU…) from `scim-stream creds`")
			} else if kp, err := nkeys.FromSeed([]byte(e.NATS.Secret.Reveal())); err != nil {
				bad(p+".nats.secret", "is not an NKey user seed (SU…): paste the seed that `scim-stream creds` printed (a value encrypted by the Node gateway cannot be read)")
			} else if pub, _ := kp.PublicKey(); claims != nil && pub != claims.Subject {
				bad(p+".nats.secret", "is not the seed of the user in nats.jwt: paste the jwt and secret from the same `scim-stream creds` output")
			}
			for i, r := range e.ReplaceDomains {
				if !strings.HasPrefix(r.From, "@") || len(r.From) < 2 {
					bad(fmt.Sprintf("%s.replaceDomains[%d].from", p, i), "%q must be a domain starting with @, e.g. @mycompany.onmicrosoft.com", r.From)
				}
				if !strings.HasPrefix(r.To, "@") || len(r.To) < 2 {
					bad(fmt.Sprintf("%s.replaceDomains[%d].to", p, i), "%q must be a domain starting with @, e.g. @mycompany.com", r.To)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// EndpointType is the configured endpoint type or the default.
func (c *Config) EndpointType() string {
	if c.Endpoint.Type != "" {
		return c.Endpoint.Type
	}
	return DefaultEndpoint
}

// CAFile resolves stream.certificate.ca ("" when not set).
func (c *Config) CAFile() string {
	ca := c.Scimgateway.Stream.Certificate.CA
	if ca == "" || filepath.IsAbs(ca) {
		return ca
	}
	inCerts := filepath.Join(c.Dir, "certs", ca)
	if _, err := os.Stat(inCerts); err == nil {
		return inCerts
	}
	return filepath.Join(c.Dir, ca)
}

// SubscriberConfig builds a gateway configuration in code (the demo, tests): a gateway named name keeping its
// store in dir, subscribed through the broker at baseURLs (trusting caFile; "" for plain nats://) with one
// entity per key of entities. The endpoint is the default store; set Endpoint to choose another.
func SubscriberConfig(name, dir string, baseURLs []string, caFile string, entities map[string]Entity) *Config {
	return &Config{
		Name: name,
		Dir:  dir,
		Scimgateway: Scimgateway{Stream: Stream{
			BaseURLs:    baseURLs,
			Certificate: StreamCertificate{CA: caFile},
			Subscriber:  &Subscribers{Enabled: true, Entity: entities},
		}},
	}
}
