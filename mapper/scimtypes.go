package mapper

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/scim-stream/scim-stream/scim"
)

// scimKind is the SCIM type (RFC 7643 section 4) of a mapping's target, where the core or enterprise User schema
// defines it. Subscribers reject a user whose userName is a number, so a source scalar is converted to the
// attribute's type, and a value that cannot be is a mapping error for that record.
type scimKind uint8

const (
	kindAny scimKind = iota // not a schema attribute with a scalar type (extensions, complex attributes)
	kindString
	kindBoolean
)

// Core and enterprise User attributes by lower-case dotted name (sub-attributes of multi-valued attributes under
// the attribute's name, selectors left out).
var (
	scimStrings = setOf("username", "externalid", "displayname", "nickname", "profileurl", "title", "usertype",
		"preferredlanguage", "locale", "timezone", "password",
		"name.formatted", "name.familyname", "name.givenname", "name.middlename", "name.honorificprefix", "name.honorificsuffix",
		"emails.value", "emails.type", "emails.display", "phonenumbers.value", "phonenumbers.type", "phonenumbers.display",
		"ims.value", "ims.type", "ims.display", "photos.value", "photos.type", "photos.display",
		"addresses.formatted", "addresses.streetaddress", "addresses.locality", "addresses.region", "addresses.postalcode",
		"addresses.country", "addresses.type", "entitlements.value", "entitlements.type", "entitlements.display",
		"roles.value", "roles.type", "roles.display", "x509certificates.value", "x509certificates.display")
	scimBooleans     = setOf("active", "emails.primary", "phonenumbers.primary", "ims.primary", "photos.primary", "addresses.primary", "entitlements.primary", "roles.primary", "x509certificates.primary")
	enterpriseString = setOf("employeenumber", "costcenter", "organization", "division", "department", "manager.value", "manager.displayname")
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// scimKindOf is the SCIM type of a target path (onCreate. targets are typed like the attribute they create).
func scimKindOf(p scim.Path) scimKind {
	elems := p.Elems
	if len(elems) > 1 && strings.EqualFold(elems[0].Name, scim.CreateOnly) {
		elems = elems[1:]
	}
	names := make([]string, len(elems))
	for i, e := range elems {
		names[i] = strings.ToLower(e.Name)
	}
	key := strings.Join(names, ".")
	switch {
	case p.URN == "" && scimStrings[key], strings.EqualFold(p.URN, scim.EnterpriseUserSchema) && enterpriseString[key]:
		return kindString
	case p.URN == "" && scimBooleans[key]:
		return kindBoolean
	}
	return kindAny
}

// coerce converts a normalized value to the target's SCIM type.
func (k scimKind) coerce(v any, target string) (any, error) {
	switch k {
	case kindString:
		switch x := v.(type) {
		case string:
			return x, nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return nil, fmt.Errorf("the value is %s, and SCIM %s is a string: map a single value (e.g. a sub-attribute or [0]) or build a string with a function", scimKindName(v), target)
	case kindBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return b, nil
			}
		}
		return nil, fmt.Errorf("the value %s cannot be a boolean, and SCIM %s is one: map a true/false source or convert it with a function", describe(v), target)
	}
	return v, nil
}

func scimKindName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return scimKindName(v)
}
