package natsauth

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// BootstrapPlan is what `scim-stream bootstrap` writes into a configuration, and what it tells the operator.
type BootstrapPlan struct {
	// Changes complete the configuration file (config.Update).
	Changes []config.Change
	// Hosts are nats.server.hosts after the changes: the server certificate's extra names.
	Hosts []string
	// Created describes the generated material, one line each.
	Created []string
	// Skeleton names the tenants written with placeholders (kind.tenant).
	Skeleton []string
	// Entra and HR are the collector tenants after the changes, sorted.
	Entra, HR []string
}

func (p *BootstrapPlan) set(value any, path ...string) {
	p.Changes = append(p.Changes, config.Change{Path: path, Value: value})
}

// setAccount writes an account's JWT, seed and signing seeds under path.
func (p *BootstrapPlan) setAccount(a *config.AccountKeys, path ...string) {
	p.set(a.JWT, append(slices.Clone(path), "jwt")...)
	p.set(a.Secret.Reveal(), append(slices.Clone(path), "secret")...)
	keys := make([]string, 0, len(a.Signing))
	for k := range a.Signing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.set(a.Signing[k].Reveal(), append(slices.Clone(path), "signing", k)...)
	}
}

// PlanBootstrap computes the changes that complete cfg for the given tenants (new ones get a skeleton with
// placeholders) and hosts: operator, system and state accounts, each tenant's accounts and signing keys, its
// publisher identity. It generates only what is missing; a new operator regenerates every account.
func PlanBootstrap(cfg *config.Config, entra, hr, hosts []string) (*BootstrapPlan, error) {
	p := &BootstrapPlan{}
	for _, t := range append(slices.Clone(entra), hr...) {
		if err := CheckTenant(t); err != nil {
			return nil, err
		}
	}
	for _, h := range hosts {
		if err := config.CheckHost(h); err != nil {
			return nil, fmt.Errorf("-host: %w", err)
		}
	}
	auth := &cfg.Nats.Server.Auth
	op := auth.Operator
	if op.JWT == "" || op.Secret == "" {
		var err error
		if op, err = NewOperator(); err != nil {
			return nil, err
		}
		base := []string{"nats", "server", "auth", "operator"}
		p.set(op.JWT, append(slices.Clone(base), "jwt")...)
		p.set(op.Secret.Reveal(), append(slices.Clone(base), "secret")...)
		p.set(op.SysAccountJWT, append(slices.Clone(base), "sys_account_jwt")...)
		p.set(op.SysAccountSecret.Reveal(), append(slices.Clone(base), "sys_account_secret")...)
		p.Created = append(p.Created, "NATS operator and system account")
		// Accounts of another operator would not load: regenerate them all.
		auth.State, auth.Account = nil, nil
		for _, pub := range cfg.Nats.Publisher {
			if pub != nil {
				pub.JWT, pub.Secret = "", ""
			}
		}
	}
	if auth.State == nil || auth.State.JWT == "" {
		st, err := NewAccount(op, "", State)
		if err != nil {
			return nil, err
		}
		p.setAccount(st, "nats", "server", "auth", "state")
		p.Created = append(p.Created, "internal state account")
	}
	p.Entra = mergeNames(entra, cfg.Entra)
	p.HR = mergeNames(hr, cfg.HR)
	for _, t := range entra {
		if cfg.Entra[t] == nil {
			p.set(config.TenantSkeleton(config.KindEntra), "entra", t)
			p.Skeleton = append(p.Skeleton, "entra."+t)
		}
	}
	for _, t := range hr {
		if cfg.HR[t] == nil {
			p.set(config.TenantSkeleton(config.KindHR), "hr", t)
			p.Skeleton = append(p.Skeleton, "hr."+t)
		}
	}
	tenants := mergeNames[bool](append(slices.Clone(p.Entra), p.HR...), nil)
	for _, t := range tenants {
		var ta config.TenantAccounts
		if auth.Account[t] != nil {
			ta = *auth.Account[t]
		}
		want := []struct {
			typ wire.Type
			key string
			acc **config.AccountKeys
			on  bool
		}{
			{wire.Entra, "entra", &ta.Entra, slices.Contains(p.Entra, t)},
			{wire.HR, "hr", &ta.HR, slices.Contains(p.HR, t)},
			{wire.GW, "gw", &ta.GW, true},
		}
		for _, w := range want {
			if !w.on || (*w.acc != nil && (*w.acc).JWT != "") {
				continue
			}
			a, err := NewAccount(op, t, w.typ)
			if err != nil {
				return nil, err
			}
			*w.acc = a
			p.setAccount(a, "nats", "server", "auth", "account", t, w.key)
			p.Created = append(p.Created, fmt.Sprintf("account %s", AccountName(t, w.typ)))
		}
		pub := cfg.Nats.Publisher[t]
		if pub == nil || pub.JWT == "" || pub.Secret == "" {
			home := ta.Entra
			if home == nil {
				home = ta.HR
			}
			u, err := Issue(home, Pub, IssueOptions{})
			if err != nil {
				return nil, err
			}
			if pub == nil {
				p.set([]string{fmt.Sprintf("nats://127.0.0.1:%d", cfg.Nats.Server.Port)}, "nats", "publisher", t, "urls")
				p.set(config.DefaultMaxAgeDays, "nats", "publisher", t, "max_age")
			}
			p.set(u.JWT, "nats", "publisher", t, "jwt")
			p.set(u.Seed.Reveal(), "nats", "publisher", t, "secret")
			p.Created = append(p.Created, fmt.Sprintf("publisher identity of %s", t))
		}
	}
	p.Hosts = slices.Clone(cfg.Nats.Server.Hosts)
	added := false
	for _, h := range hosts {
		if !slices.Contains(p.Hosts, h) {
			p.Hosts = append(p.Hosts, h)
			added = true
		}
	}
	if added {
		p.set(p.Hosts, "nats", "server", "hosts")
		p.Created = append(p.Created, "nats.server.hosts: "+strings.Join(p.Hosts, ", "))
	}
	return p, nil
}

// mergeNames is names plus the keys of existing, sorted and without duplicates.
func mergeNames[V any](names []string, existing map[string]V) []string {
	out := slices.Clone(names)
	for k := range existing {
		out = append(out, k)
	}
	sort.Strings(out)
	return slices.Compact(out)
}
