package scimserver

import (
	"net/http"
	"sort"

	"github.com/google/uuid"
)

// appRoleNamespace is the UUIDv5 namespace of app role ids: the id of a group's app role is derived from the
// tenant, the baseEntity and the group id, so re-exporting never changes it and re-importing into the Entra
// manifest never churns role assignments.
var appRoleNamespace = uuid.MustParse("6f1d9a52-2b3c-5e7a-9c41-53c1d0e8a7b2")

// AppRoleID is the stable app role id of a group.
func AppRoleID(tenant, baseEntity, groupID string) string {
	return uuid.NewSHA1(appRoleNamespace, []byte(tenant+"\x00"+baseEntity+"\x00"+groupID)).String()
}

// appRoles serves GET /AppRoles: the endpoint's groups as the appRoles array of an Entra application manifest,
// in the Node gateway's response shape ({"Resources":[{"appRoles":[…]}]}).
func (h *request) appRoles() error {
	groups, err := h.ep.ListGroups(h.ctx, "")
	if err != nil {
		return err
	}
	sort.Slice(groups, func(i, j int) bool {
		a, _ := groups[i]["displayName"].(string)
		b, _ := groups[j]["displayName"].(string)
		return a < b
	})
	roles := make([]any, 0, len(groups))
	for _, g := range groups {
		id, _ := g["id"].(string)
		if id == "" {
			continue
		}
		name, _ := g["displayName"].(string)
		if name == "" {
			name = id
		}
		roles = append(roles, map[string]any{
			"allowedMemberTypes": []string{"User"},
			"description":        name,
			"displayName":        name,
			"id":                 AppRoleID(h.s.opts.Tenant, h.rt.baseEntity, id),
			"isEnabled":          true,
			"lang":               nil,
			"origin":             "Application",
			"value":              id,
		})
	}
	return h.writeJSON(http.StatusOK, map[string]any{"Resources": []any{map[string]any{"appRoles": roles}}}, "")
}
