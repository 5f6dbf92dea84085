package main

import (
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/collector/entra"
	"github.com/scim-stream/scim-stream/collector/hr"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// sourcesFor returns the collector sources of this binary. Each tenant's source is built from its compiled
// configuration: the Entra source reads only the Graph properties the tenant's mapper uses, the role assignments
// of the applications its rules name, and waits for the audit log only when a rule tests who made a change.
func sourcesFor(env *runEnv) map[wire.Type]collector.SourceFactory {
	certs := config.CertsDir(env.ConfigPath)
	return map[wire.Type]collector.SourceFactory{
		wire.HR: func(t *collector.Tenant) (collector.Source, error) {
			return hr.New(t.Name, *t.Config, hr.Options{HTTPClient: env.HTTPClient, Log: env.Log, CertsDir: certs})
		},
		wire.Entra: func(t *collector.Tenant) (collector.Source, error) {
			return entra.New(t.Name, t.Config, entra.OptionsFor(t, entra.Options{HTTPClient: env.HTTPClient, Log: env.Log}))
		},
	}
}
