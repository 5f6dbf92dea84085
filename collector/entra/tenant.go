package entra

import (
	"slices"
	"time"

	"github.com/scim-stream/scim-stream/collector"
)

// OptionsFor returns base with the options a compiled tenant decides filled in, so that the source reads what
// the tenant's mapper, rules and dynamics use and no more:
//   - Select: the mapper's source paths (the $select of users/delta);
//   - Applications: the applications the rules and dynamics name (user.roles.<name or object id>…), or every
//     application when some filter keeps or tests all roles ((.*), user.roles.value) — and also when none is
//     named at all, since an empty Options.Applications means every application;
//   - AttributionWait: general.entra.attribution_wait when a rule or dynamic tests a message field
//     (initiatedByUpn…), otherwise 0, so tenants that do not ask who made a change get it within seconds rather
//     than after the audit log's lag.
//
// The other fields of base (HTTP client, logger, clock, tuning) are kept.
func OptionsFor(t *collector.Tenant, base Options) Options {
	o := base
	o.Select = t.Mapper.SourcePaths()
	n := t.Needs()
	o.Applications = nil
	if !n.AllRoles {
		o.Applications = slices.Clone(n.RoleTypes)
	}
	o.AttributionWait = 0
	if n.MessageFields && t.Config != nil {
		o.AttributionWait = time.Duration(t.Config.General.Entra.AttributionWait) * time.Second
	}
	return o
}
