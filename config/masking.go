package config

import (
	"reflect"
	"sort"
	"strings"
	"sync"
)

// The secrets of every configuration loaded in this process are remembered so that the log handler can mask
// them wherever they appear (a URL with a token, an upstream error echoing a password).

var secretSet struct {
	sync.RWMutex
	values   map[string]struct{}
	replacer *strings.Replacer
}

// minMaskLen avoids masking every "a" in a log line because some test configuration used a one-letter secret.
const minMaskLen = 3

// RegisterSecret adds a value to the set masked in logs (for secrets that do not come from the config file).
func RegisterSecret(v string) {
	if len(v) < minMaskLen {
		return
	}
	secretSet.Lock()
	defer secretSet.Unlock()
	if secretSet.values == nil {
		secretSet.values = map[string]struct{}{}
	}
	if _, ok := secretSet.values[v]; ok {
		return
	}
	secretSet.values[v] = struct{}{}
	// Longest first, so a secret containing another is masked whole.
	vs := make([]string, 0, len(secretSet.values))
	for s := range secretSet.values {
		vs = append(vs, s)
	}
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	pairs := make([]string, 0, 2*len(vs))
	for _, s := range vs {
		pairs = append(pairs, s, masked)
	}
	secretSet.replacer = strings.NewReplacer(pairs...)
}

// MaskSecrets replaces every registered secret in s with "***".
func MaskSecrets(s string) string {
	secretSet.RLock()
	r := secretSet.replacer
	secretSet.RUnlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

// Secrets returns every Secret value in c, found by reflection so that fields added later are covered too.
func (c *Config) Secrets() []Secret {
	var out []Secret
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Map:
			for it := v.MapRange(); it.Next(); {
				walk(it.Value())
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.String:
			if v.Type() == secretType && v.String() != "" {
				out = append(out, Secret(v.String()))
			}
		}
	}
	walk(reflect.ValueOf(c))
	return out
}

var secretType = reflect.TypeFor[Secret]()

func registerSecrets(c *Config) {
	// auth.header values are secrets (encrypted at rest, see isHeaderMap) kept as plain strings for the HTTP client.
	for _, tenants := range []map[string]*Tenant{c.Entra, c.HR} {
		for _, t := range tenants {
			if t != nil {
				for _, v := range t.Auth.Header {
					RegisterSecret(v)
				}
			}
		}
	}
	for _, s := range c.Secrets() {
		RegisterSecret(string(s))
	}
}
