package mapper

import (
	"fmt"
	"strings"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
)

// entraUser is the documented default Entra mapping, in documentation order.
var entraUser = []config.Mapping{
	{Source: "userPrincipalName", MapTo: "userName"},
	{Source: "accountEnabled", MapTo: "active"},
	{Source: "displayName", MapTo: "displayName"},
	{Source: "givenName", MapTo: "name.givenName"},
	{Source: "surname", MapTo: "name.familyName"},
	{Source: `Join([name.givenName], " ", [name.familyName])`, MapTo: "name.formatted"},
	{Source: "mail", MapTo: `emails[type eq "work"].value`},
	{Source: "otherMails", MapTo: `emails[type eq "other"].value`},
	{Source: "businessPhones", MapTo: `phoneNumbers[type eq "work"].value`},
	{Source: "jobTitle", MapTo: "title"},
	{Source: "preferredLanguage", MapTo: "preferredLanguage"},
	{Source: "physicalDeliveryOfficeName", MapTo: `addresses[type eq "work"].formatted`},
	{Source: "streetAddress", MapTo: `addresses[type eq "work"].streetAddress`},
	{Source: "state", MapTo: `addresses[type eq "work"].region`},
	{Source: "city", MapTo: `addresses[type eq "work"].city`},
	{Source: "postalCode", MapTo: `addresses[type eq "work"].postalCode`},
	{Source: "country", MapTo: `addresses[type eq "work"].country`},
	{Source: "mobilePhone", MapTo: `phoneNumbers[type eq "mobile"].value`},
	{Source: "faxNumber", MapTo: `phoneNumbers[type eq "fax"].value`},
	{Source: "mailNickname", MapTo: "externalId"},
	{Source: "employeeHireDate", MapTo: "startDate"},
	{Source: "companyName", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization"},
	{Source: "employeeId", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"},
	{Source: "employeeType", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeType"},
	{Source: "department", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
	{Source: "employeeOrgData.costCenter", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"},
	{Source: "employeeOrgData.division", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division"},
	{Source: "manager.userPrincipalName", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"},
	{Source: "manager.displayName", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName"},
	{Source: "groups", MapTo: "groups"},
	{Source: "appRoles", MapTo: "roles"},
}

var entraGroup = []config.Mapping{{Source: "displayName", MapTo: "displayName"}}

// fixed are the default mappings a tenant cannot change: memberships come from the collector, not from
// user properties.
var fixed = map[string]string{"groups": "groups", "roles": "appRoles"}

// DefaultEntra returns a copy of the documented default Entra mapping.
func DefaultEntra() config.Mapper {
	return config.Mapper{
		User:  append([]config.Mapping(nil), entraUser...),
		Group: append([]config.Mapping(nil), entraGroup...),
	}
}

// mergeEntra merges a tenant's mappings into the defaults: a tenant mapping to an attribute the defaults map
// replaces the default (in the default's place), others are appended in order. Mapping to groups or roles, or
// mapping the groups/appRoles sources elsewhere, or changing the group mapping, is rejected.
func mergeEntra(m config.Mapper) (user, group []config.Mapping, errs []error) {
	user = append([]config.Mapping(nil), entraUser...)
	key := func(mapTo string) string {
		if p, err := scim.ParsePath(strings.TrimSpace(mapTo)); err == nil {
			return strings.ToLower(p.String())
		}
		return strings.ToLower(strings.TrimSpace(mapTo))
	}
	index := map[string]int{}
	for i, d := range user {
		index[key(d.MapTo)] = i
	}
	for _, t := range m.User {
		k := key(t.MapTo)
		src := strings.TrimSpace(t.Source)
		if want, ok := fixed[k]; ok {
			if src != want {
				errs = append(errs, &Error{Section: "mapper.user", Source: t.Source, MapTo: t.MapTo, Line: t.Line,
					Msg: fmt.Sprintf("%s cannot be overridden: it is always mapped from the collector's %s; remove this mapping", k, want)})
			}
			continue
		}
		if src == "groups" || src == "appRoles" {
			errs = append(errs, &Error{Section: "mapper.user", Source: t.Source, MapTo: t.MapTo, Line: t.Line,
				Msg: fmt.Sprintf("%s is always mapped to %s and cannot be mapped elsewhere; remove this mapping", src, map[string]string{"groups": "groups", "appRoles": "roles"}[src])})
			continue
		}
		if i, ok := index[k]; ok {
			user[i] = t
			continue
		}
		index[k] = len(user)
		user = append(user, t)
	}
	for _, g := range m.Group {
		if strings.TrimSpace(g.Source) != "displayName" || key(g.MapTo) != "displayname" {
			errs = append(errs, &Error{Section: "mapper.group", Source: g.Source, MapTo: g.MapTo, Line: g.Line,
				Msg: "the group mapping cannot be overridden: groups are always displayName → displayName; remove mapper.group"})
		}
	}
	return user, append([]config.Mapping(nil), entraGroup...), errs
}
