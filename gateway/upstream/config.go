package upstream

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/config"
)

// Config is the `endpoint:` section of type scim.
type Config struct {
	Type string `yaml:"type"`
	// BaseURLs are the SCIM base URLs (…/scim/v2) tried in order; the first that answers is kept until it fails.
	BaseURLs []string `yaml:"base_urls"`
	Auth     Auth     `yaml:"auth"`
	TLS      TLS      `yaml:"tls"`
	Proxy    Proxy    `yaml:"proxy"`
	// Timeout bounds one HTTP request (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// Headers are sent with every request (tenant headers some applications need).
	Headers map[string]string `yaml:"headers"`
	// PageSize is the count asked for per page when listing (default 100).
	PageSize int `yaml:"page_size"`
}

// Auth is how the gateway authenticates to the upstream.
type Auth struct {
	// Type is none, basic, bearer or oauth (client credentials).
	Type     string        `yaml:"type"`
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	Token    config.Secret `yaml:"token"`
	// TokenURL, ClientID, ClientSecret and Scope are for oauth.
	TokenURL     string        `yaml:"token_url"`
	ClientID     string        `yaml:"client_id"`
	ClientSecret config.Secret `yaml:"client_secret"`
	Scope        string        `yaml:"scope"`
}

// TLS configures server certificate checks (and an optional client certificate).
type TLS struct {
	// CA is a PEM file of CA certificates trusted in addition to the system's, relative to the gateway's
	// configuration directory unless absolute.
	CA                 string `yaml:"ca"`
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Proxy is an HTTP(S) proxy; empty URL means the environment's (HTTPS_PROXY, NO_PROXY).
type Proxy struct {
	URL      string        `yaml:"url"`
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
}

// Decode reads an `endpoint:` node of type scim; unknown keys are errors so that typos do not go unnoticed.
func Decode(node *yaml.Node) (Config, error) {
	var cfg Config
	if node == nil {
		return cfg, fmt.Errorf("endpoint (type scim): the endpoint section is missing: add endpoint.base_urls")
	}
	if err := decodeStrict(node, &cfg); err != nil {
		return cfg, fmt.Errorf("endpoint (type scim): %w", err)
	}
	return cfg, cfg.validate()
}

// decodeStrict decodes node into v, failing on keys v does not have.
func decodeStrict(node *yaml.Node, v any) error {
	raw, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func (cfg *Config) validate() error {
	if len(cfg.BaseURLs) == 0 {
		return fmt.Errorf("endpoint.base_urls: at least one SCIM base URL is required, e.g. https://app.example.com/scim/v2")
	}
	for i, u := range cfg.BaseURLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("endpoint.base_urls[%d]: %q is not an http(s) URL", i, u)
		}
		cfg.BaseURLs[i] = strings.TrimRight(u, "/")
	}
	switch strings.ToLower(cfg.Auth.Type) {
	case "", "none":
		cfg.Auth.Type = "none"
	case "basic":
		if cfg.Auth.Username == "" {
			return fmt.Errorf("endpoint.auth.username: required for auth.type basic")
		}
	case "bearer":
		if cfg.Auth.Token == "" {
			return fmt.Errorf("endpoint.auth.token: required for auth.type bearer")
		}
	case "oauth":
		if cfg.Auth.TokenURL == "" || cfg.Auth.ClientID == "" || cfg.Auth.ClientSecret == "" {
			return fmt.Errorf("endpoint.auth: token_url, client_id and client_secret are required for auth.type oauth")
		}
	default:
		return fmt.Errorf("endpoint.auth.type: %q is not one of none, basic, bearer, oauth", cfg.Auth.Type)
	}
	cfg.Auth.Type = strings.ToLower(cfg.Auth.Type)
	if cfg.Proxy.URL != "" {
		if p, err := url.Parse(cfg.Proxy.URL); err != nil || p.Host == "" {
			return fmt.Errorf("endpoint.proxy.url: %q is not a URL such as http://proxy.example.com:3128", cfg.Proxy.URL)
		}
	}
	if (cfg.TLS.Cert == "") != (cfg.TLS.Key == "") {
		return fmt.Errorf("endpoint.tls: cert and key go together")
	}
	if cfg.Timeout < 0 {
		return fmt.Errorf("endpoint.timeout: %v is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	return nil
}
