package entra

import (
	"slices"
	"sort"

	"github.com/scim-stream/scim-stream/collector"
)

// record builds the record of a user from the directory: the selected properties as Graph returned them, the
// manager expanded, transitive groups and roles (direct and inherited through groups, nested included) both as
// record fields and as the Data attributes "groups" and "appRoles" the default mapper maps.
func (s *Source) record(id string) (collector.Record, bool) {
	d := s.dir
	u := d.users[id]
	if u == nil || !s.inScope(u) {
		return collector.Record{}, false
	}
	data := make(map[string]any, len(u)+4)
	for k, v := range u {
		data[k] = v
	}
	if hasKey(d.softDeleted, id) {
		// A soft-deleted user can be restored for 30 days: deactivate, do not delete.
		data["accountEnabled"] = false
	}
	for from, to := range aliases {
		if v, ok := data[to]; ok {
			data[from] = v
		}
	}
	delete(data, "manager")
	if m := d.manager[id]; m != "" {
		ref := map[string]any{"id": m}
		if mu := d.users[m]; mu != nil {
			for _, k := range []string{"userPrincipalName", "displayName", "mail"} {
				if v, ok := mu[k]; ok {
					ref[k] = v
				}
			}
		}
		data["manager"] = ref
	}

	anc := d.ancestors(id)
	groups := make([]collector.Group, 0, len(anc))
	for g := range anc {
		groups = append(groups, collector.Group{ID: g, DisplayName: d.groups[g].name})
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].DisplayName != groups[j].DisplayName {
			return groups[i].DisplayName < groups[j].DisplayName
		}
		return groups[i].ID < groups[j].ID
	})
	gdata := make([]any, len(groups))
	for i, g := range groups {
		value := g.DisplayName
		if s.gen.UseOriginalGroupID {
			value = g.ID
		}
		gdata[i] = map[string]any{"display": g.DisplayName, "value": value}
	}
	data["groups"] = gdata

	var roles []collector.Role
	var held []string // role ids of one application; a user holds a few, so a slice beats a set per application
	for _, appID := range d.appIDs() {
		a := d.apps[appID]
		held = held[:0]
		for r := range a.assigned[id] {
			held = appendNew(held, r)
		}
		for g := range anc {
			for r := range a.assigned[g] {
				held = appendNew(held, r)
			}
		}
		slices.Sort(held)
		for _, r := range held {
			ar := a.roles[r]
			roles = append(roles, collector.Role{Application: a.name, AppID: appID, Display: ar.DisplayName, Value: ar.Value})
		}
	}
	sort.SliceStable(roles, func(i, j int) bool {
		if roles[i].AppID != roles[j].AppID {
			return roles[i].AppID < roles[j].AppID
		}
		return roles[i].Value < roles[j].Value
	})
	rdata := make([]any, len(roles))
	for i, r := range roles {
		rdata[i] = map[string]any{"type": r.Application, "display": r.Display, "value": r.Value, "appId": r.AppID}
	}
	data["appRoles"] = rdata
	return collector.Record{ID: id, Data: data, Groups: groups, Roles: roles}, true
}

// appendNew appends v unless s holds it already.
func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
