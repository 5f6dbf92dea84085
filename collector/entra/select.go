package entra

import (
	"sort"
	"strings"
)

// userProperties are the Microsoft Graph v1.0 user properties users/delta can $select. A mapper source path whose
// first segment is not one of them (and not computed by the collector) is not requested: Graph would reject the
// whole query.
var userProperties = map[string]bool{}

func init() {
	for _, p := range strings.Fields(`accountEnabled ageGroup businessPhones city companyName country createdDateTime
		department displayName employeeHireDate employeeLeaveDateTime employeeId employeeOrgData employeeType
		externalUserState faxNumber givenName identities imAddresses jobTitle mail mailNickname manager mobilePhone
		officeLocation onPremisesDistinguishedName onPremisesImmutableId onPremisesSamAccountName
		onPremisesSyncEnabled onPremisesUserPrincipalName otherMails postalCode preferredLanguage proxyAddresses
		state streetAddress surname usageLocation userPrincipalName userType`) {
		userProperties[p] = true
	}
}

// computed are source paths the collector fills itself.
var computed = map[string]bool{"groups": true, "appRoles": true, "id": true}

// aliases are source names of the default Entra mapper that Graph calls differently: the documentation's
// mapper uses the Active Directory name physicalDeliveryOfficeName for Graph's officeLocation.
var aliases = map[string]string{"physicalDeliveryOfficeName": "officeLocation"}

// always are the properties the collector needs whatever the mapper reads: scoping (userType, UPN prefixes),
// soft deletes (accountEnabled), the manager expansion and the documented default attributes.
var always = []string{"accountEnabled", "displayName", "userPrincipalName", "userType", "manager", "employeeOrgData"}

// selectList turns mapper source paths into a $select list; unknown names are returned for a warning.
func selectList(paths []string) (sel, unknown []string) {
	want := map[string]bool{}
	for _, p := range always {
		want[p] = true
	}
	bad := map[string]bool{}
	for _, p := range paths {
		name := strings.TrimSpace(p)
		if i := strings.IndexAny(name, ".["); i >= 0 {
			name = name[:i]
		}
		if a, ok := aliases[name]; ok {
			name = a
		}
		switch {
		case name == "" || computed[name]:
		case userProperties[name]:
			want[name] = true
		default:
			bad[name] = true
		}
	}
	for p := range want {
		sel = append(sel, p)
	}
	for p := range bad {
		unknown = append(unknown, p)
	}
	sort.Strings(sel)
	sort.Strings(unknown)
	return sel, unknown
}
