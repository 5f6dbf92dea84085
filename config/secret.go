package config

import (
	"log/slog"
	"strings"
)

// Secret holds a decrypted secret in memory. It prints as "***" through fmt (%v, %s, %q, %#v) and slog so that it
// cannot leak into logs or errors by accident; use Reveal (or string(s)) where the clear text is really needed.
type Secret string

const masked = "***"

// Reveal returns the clear text.
func (s Secret) Reveal() string { return string(s) }

// String masks the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return masked
}

// GoString masks the value for %#v.
func (s Secret) GoString() string { return `config.Secret("` + s.String() + `")` }

// LogValue masks the value for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText masks the value for encoders (JSON dumps of a Config).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// IsSecretKey reports whether a YAML key holds a secret: those are encrypted at rest and masked in logs.
func IsSecretKey(key string) bool {
	switch key {
	case "secret", "client_secret", "password", "token", "proxy_password", "encryption_at_rest_key":
		return true
	}
	return strings.HasSuffix(key, "_secret")
}
