package config

import (
	"iter"
	"slices"
)

// The configuration's collector sections; a tenant's key path starts with one of them.
const (
	KindEntra = "entra"
	KindHR    = "hr"
)

// TenantKey names one collector tenant: its section and its name.
type TenantKey struct {
	Kind, Name string
}

// String is the tenant's key path, the prefix of its keys in errors ("entra.mycompany").
func (k TenantKey) String() string { return k.Kind + "." + k.Name }

// Tenants yields every collector tenant, the entra ones then the hr ones, each section by name. Every loop over
// the tenants uses it, so that validation, checks and start-up report in one stable order.
func (c *Config) Tenants() iter.Seq2[TenantKey, *Tenant] {
	return func(yield func(TenantKey, *Tenant) bool) {
		for _, s := range []struct {
			kind    string
			tenants map[string]*Tenant
		}{{KindEntra, c.Entra}, {KindHR, c.HR}} {
			names := make([]string, 0, len(s.tenants))
			for n := range s.tenants {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				if !yield(TenantKey{s.kind, n}, s.tenants[n]) {
					return
				}
			}
		}
	}
}
