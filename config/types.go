// Package config holds the typed SCIM Stream configuration (config/config.yaml), loads it from the file, the
// environment and a vault file, decrypts and encrypts secrets at rest, validates it with file:line errors, writes
// changes back without disturbing the operator's formatting, and watches the file for hot reload.
//
// The YAML keys follow the product documentation ("Configuration", "Details"); every struct field carries its key.
package config

import "time"

// Config is one validated snapshot of config.yaml. Entra and HR are keyed by the self-defined tenant name.
type Config struct {
	Entra map[string]*Tenant `yaml:"entra"`
	HR    map[string]*Tenant `yaml:"hr"`
	Log   Log                `yaml:"log"`
	Email Email              `yaml:"email"`
	Nats  Nats               `yaml:"nats"`
}

// Tenant is one collector configuration (entra.<tenant> or hr.<tenant>).
type Tenant struct {
	Auth     Auth      `yaml:"auth"`
	General  General   `yaml:"general"`
	Streams  []Stream  `yaml:"streams"`
	Dynamics []Dynamic `yaml:"dynamics"`
	Mapper   Mapper    `yaml:"mapper"`
}

// Auth is how a collector authenticates to its source. The optional methods are pointers: nil means "not
// configured", so a collector can tell which one to use.
type Auth struct {
	OAuth              *OAuth              `yaml:"oauth"`
	OAuthSAMLAssertion *OAuthSAMLAssertion `yaml:"oauth_saml_assertion"`
	Basic              *Basic              `yaml:"basic"`
	BearerToken        *BearerToken        `yaml:"bearer_token"`
	// Header holds extra HTTP headers (name → value) sent on every HR request.
	Header map[string]string `yaml:"header"`
	// BaseURLs are one or more (failover) HR endpoint URLs; not used by Entra.
	BaseURLs []string `yaml:"base_urls"`
}

// OAuth is client-credentials authentication; several clients spread Graph throttling.
type OAuth struct {
	Clients []OAuthClient `yaml:"clients"`
}

// OAuthClient is one OAuth client (for Entra: an application registration).
type OAuthClient struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
}

// OAuthSAMLAssertion is the SAML-bearer OAuth flow used by SAP SuccessFactors. KeyFile and CertFile are file names
// under <config dir>/certs.
type OAuthSAMLAssertion struct {
	Audience             string `yaml:"audience"`
	KeyFile              string `yaml:"key_file"`
	CertFile             string `yaml:"cert_file"`
	ClientID             string `yaml:"client_id"`
	CompanyID            string `yaml:"company_id"`
	Issuer               string `yaml:"issuer"`
	NameID               string `yaml:"name_id"`
	TokenURL             string `yaml:"token_url"`
	UserIdentifierFormat string `yaml:"user_identifier_format"`
	// LifeTime is the assertion lifetime in seconds.
	LifeTime int `yaml:"life_time"`
}

// Basic is HTTP basic authentication.
type Basic struct {
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// BearerToken is a static bearer token.
type BearerToken struct {
	Token Secret `yaml:"token"`
}

// General holds the collection settings shared by both collector types, plus the type-specific blocks.
type General struct {
	CollectInterval CollectInterval `yaml:"collect_interval"`
	DoInitialLoad   bool            `yaml:"do_initial_load"`
	// DoInitialLoadFilter is a single rule-language filter selecting users for a one-off initial load (Entra).
	DoInitialLoadFilter string `yaml:"do_initial_load_filter"`
	// RequestTimeout is in seconds; see Timeout.
	RequestTimeout int          `yaml:"request_timeout"`
	Entra          EntraGeneral `yaml:"entra"`
	HR             HRGeneral    `yaml:"hr"`
	// Guard is the mass-change guard (general.guard): see config/guard.go.
	Guard Guard `yaml:"guard"`
}

// Timeout is RequestTimeout as a duration.
func (g General) Timeout() time.Duration { return time.Duration(g.RequestTimeout) * time.Second }

// EntraGeneral is general.entra.
type EntraGeneral struct {
	TenantID           string   `yaml:"tenant_id"`
	IncludeGuestUsers  bool     `yaml:"include_guest_users"`
	SkipUPNStartsWith  []string `yaml:"skip_upn_startswith"`
	UseOriginalGroupID bool     `yaml:"use_original_group_id"`
	// GraphURL and LoginURL override the Microsoft endpoints (national clouds, tests). Empty means the public
	// cloud defaults, which the Entra collector owns.
	GraphURL string `yaml:"graph_url"`
	LoginURL string `yaml:"login_url"`
	// AttributionWait is how long, in seconds, a change is held for the audit log row naming who made it, when
	// a stream rule of the tenant tests initiatedById/initiatedByUpn (default 300). Other tenants publish at once.
	AttributionWait int `yaml:"attribution_wait"`
}

// HRGeneral is general.hr.
type HRGeneral struct {
	CollectQueryString     string `yaml:"collect_query_string"`
	CollectQueryResultPath string `yaml:"collect_query_result_path"`
	PreActivateDays        int    `yaml:"pre_activate_days"`
}

// Stream is one publishing channel: the subject is <TYPE>.<Channel>.
type Stream struct {
	Channel string   `yaml:"channel"`
	Comment string   `yaml:"comment"`
	Rules   []Filter `yaml:"rules"`
}

// Filter is one rule-language filter; several filters in a list are OR-ed. Line is the filter's line in the file
// (0 when it came from the environment), for error messages downstream.
type Filter struct {
	Filter string
	Line   int
}

// Dynamic is one dynamic (ABAC/RBAC) assignment rule.
type Dynamic struct {
	Comment   string
	DynamicID string
	Rules     []Filter
	// Assignments keep the order of the YAML mapping.
	Assignments []Assignment
	Line        int
}

// Assignment is one key of a dynamic's assignments, e.g. Path "user.groups" with Value []any of maps.
// Value is the decoded YAML (map[string]any, []any, string, int, bool, float64, nil).
type Assignment struct {
	Path  string
	Value any
	Line  int
}

// Mapper maps source attributes to SCIM attributes; lists keep their order.
type Mapper struct {
	Rules []Filter  `yaml:"rules"`
	Group []Mapping `yaml:"group"`
	User  []Mapping `yaml:"user"`
}

// Mapping is one mapper entry: `- <Source>: {map_to: <MapTo>}`, Source being a source path such as
// "employmentNav.results.[0].startDate" or an expression such as "GetUniqueValue(...)" (explicit `? key` form).
type Mapping struct {
	Source string
	MapTo  string
	Line   int
}

// Log is the log section.
type Log struct {
	Console bool   `yaml:"console"`
	Level   string `yaml:"level"`
	// Format is text (logfmt-style key=value lines, the default) or json (one JSON object per line).
	Format string `yaml:"format"`
	// MaxAge is in days (0 keeps old files forever), MaxSize in megabytes.
	MaxAge     int `yaml:"max_age"`
	MaxBackups int `yaml:"max_backups"`
	MaxSize    int `yaml:"max_size"`
}

// Email is the e-mail on error section.
type Email struct {
	SMTP    SMTP    `yaml:"smtp"`
	OnError OnError `yaml:"on_error"`
}

// SMTP is the mail server used for error notifications.
type SMTP struct {
	Host          string `yaml:"host"`
	Port          int    `yaml:"port"`
	Username      string `yaml:"username"`
	Password      Secret `yaml:"password"`
	Proxy         string `yaml:"proxy"`
	ProxyUsername string `yaml:"proxy_username"`
	ProxyPassword Secret `yaml:"proxy_password"`
}

// OnError controls error notification mails.
type OnError struct {
	Enabled bool `yaml:"enabled"`
	// SendInterval is in minutes: notifications are deferred until it has passed since the last one.
	SendInterval int    `yaml:"send_interval"`
	Subject      string `yaml:"subject"`
	// To accepts the documented comma-separated string as well as a YAML list.
	To Recipients `yaml:"to"`
}

// Recipients is a list of e-mail addresses.
type Recipients []string

// Nats is the NATS section.
type Nats struct {
	Server    NatsServer            `yaml:"server"`
	Publisher map[string]*Publisher `yaml:"publisher"`
}

// NatsServer configures the embedded server (or the external one when UseExternalServer).
type NatsServer struct {
	Port                int         `yaml:"port"`
	Trace               bool        `yaml:"trace"`
	EncryptionAtRestKey Secret      `yaml:"encryption_at_rest_key"`
	UseExternalServer   bool        `yaml:"use_external_server"`
	Hosts               []string    `yaml:"hosts"`
	MonitorPort         int         `yaml:"monitor_port"`
	Certificate         Certificate `yaml:"certificate"`
	Auth                NatsAuth    `yaml:"auth"`
	// Cluster, when present, makes this process one node of a JetStream cluster (see cluster.go).
	Cluster *Cluster `yaml:"cluster"`
}

// Certificate names the server's TLS files under <config dir>/certs.
type Certificate struct {
	CertFile string `yaml:"certfile"`
	KeyFile  string `yaml:"keyfile"`
	CAFile   string `yaml:"cafile"`
}

// NatsAuth holds the decentralized-JWT material: the operator, the internal state account and one account per
// (tenant, collector type).
type NatsAuth struct {
	Operator Operator                   `yaml:"operator"`
	State    *AccountKeys               `yaml:"state"`
	Account  map[string]*TenantAccounts `yaml:"account"`
}

// Operator is the NATS operator and system account.
type Operator struct {
	JWT              string `yaml:"jwt"`
	Secret           Secret `yaml:"secret"`
	SysAccountJWT    string `yaml:"sys_account_jwt"`
	SysAccountSecret Secret `yaml:"sys_account_secret"`
}

// TenantAccounts are a tenant's accounts, one per collector type (see package wire, Isolation).
type TenantAccounts struct {
	Entra *AccountKeys `yaml:"entra"`
	HR    *AccountKeys `yaml:"hr"`
	GW    *AccountKeys `yaml:"gw"`
}

// AccountKeys is an account JWT with its seed and its role signing keys (e.g. "pub_secret", "sub_entra_secret").
type AccountKeys struct {
	JWT     string            `yaml:"jwt"`
	Secret  Secret            `yaml:"secret"`
	Signing map[string]Secret `yaml:"signing"`
}

// Publisher is SCIM Stream's own publishing connection for a tenant.
type Publisher struct {
	URLs []string `yaml:"urls"`
	// MaxAge is in days: how long messages stay in the tenant's streams.
	MaxAge int    `yaml:"max_age"`
	JWT    string `yaml:"jwt"`
	Secret Secret `yaml:"secret"`
}
