package scimserver

import (
	"net/http"
	"strings"

	"github.com/scim-stream/scim-stream/scim"
)

const (
	schemaSPConfig     = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	schemaResourceType = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema       = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

func (s *Server) serviceProviderConfig(r *http.Request) map[string]any {
	return map[string]any{
		"schemas":          []string{schemaSPConfig},
		"documentationUri": "https://github.com/scim-stream/scim-stream",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": maxBulkOperations, "maxPayloadSize": s.opts.MaxBodyBytes},
		"filter":           map[string]any{"supported": true, "maxResults": maxResults},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{
			map[string]any{"type": "httpbasic", "name": "HTTP Basic", "description": "Authentication with a user name and password", "primary": false},
			map[string]any{"type": "oauthbearertoken", "name": "Bearer token", "description": "Authentication with a shared bearer token", "primary": true},
		},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": "/ServiceProviderConfig"},
	}
}

// attr describes a schema attribute (RFC 7643 §7) compactly.
func attr(name, typ string, multi bool, sub ...map[string]any) map[string]any {
	a := map[string]any{
		"name": name, "type": typ, "multiValued": multi, "required": false, "caseExact": false,
		"mutability": "readWrite", "returned": "default", "uniqueness": "none", "description": name,
	}
	if len(sub) > 0 {
		a["subAttributes"] = sub
	}
	return a
}

func with(a map[string]any, kv ...any) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i].(string)] = kv[i+1]
	}
	return a
}

// typed is the sub-attributes of a typed multi-valued attribute (emails, phoneNumbers, …).
func typed(extra ...map[string]any) []map[string]any {
	return append([]map[string]any{attr("value", "string", false), attr("display", "string", false),
		attr("type", "string", false), attr("primary", "boolean", false)}, extra...)
}

func schemaDefs() []map[string]any {
	user := []map[string]any{
		with(attr("userName", "string", false), "required", true, "uniqueness", "server"),
		attr("name", "complex", false, attr("formatted", "string", false), attr("familyName", "string", false),
			attr("givenName", "string", false), attr("middleName", "string", false),
			attr("honorificPrefix", "string", false), attr("honorificSuffix", "string", false)),
		attr("displayName", "string", false), attr("nickName", "string", false), attr("profileUrl", "reference", false),
		attr("title", "string", false), attr("userType", "string", false), attr("preferredLanguage", "string", false),
		attr("locale", "string", false), attr("timezone", "string", false), attr("active", "boolean", false),
		with(attr("password", "string", false), "mutability", "writeOnly", "returned", "never"),
		with(attr("externalId", "string", false), "caseExact", true),
		attr("emails", "complex", true, typed()...), attr("phoneNumbers", "complex", true, typed()...),
		attr("ims", "complex", true, typed()...), attr("photos", "complex", true, typed()...),
		attr("addresses", "complex", true, attr("formatted", "string", false), attr("streetAddress", "string", false),
			attr("locality", "string", false), attr("region", "string", false), attr("postalCode", "string", false),
			attr("country", "string", false), attr("type", "string", false), attr("primary", "boolean", false)),
		with(attr("groups", "complex", true, typed()...), "mutability", "readOnly"),
		attr("entitlements", "complex", true, typed()...), attr("roles", "complex", true, typed()...),
		attr("x509Certificates", "complex", true, typed()...),
	}
	group := []map[string]any{
		with(attr("displayName", "string", false), "required", true, "uniqueness", "server"),
		with(attr("externalId", "string", false), "caseExact", true),
		attr("members", "complex", true, attr("value", "string", false), attr("display", "string", false),
			attr("type", "string", false), attr("$ref", "reference", false)),
	}
	enterprise := []map[string]any{
		attr("employeeNumber", "string", false), attr("costCenter", "string", false), attr("organization", "string", false),
		attr("division", "string", false), attr("department", "string", false),
		attr("manager", "complex", false, attr("value", "string", false), attr("displayName", "string", false),
			attr("$ref", "reference", false)),
	}
	def := func(id, name, desc string, attrs []map[string]any) map[string]any {
		return map[string]any{"schemas": []string{schemaSchema}, "id": id, "name": name, "description": desc, "attributes": attrs,
			"meta": map[string]any{"resourceType": "Schema", "location": "/Schemas/" + id}}
	}
	return []map[string]any{
		def(scim.CoreUserSchema, "User", "User Account", user),
		def(scim.GroupSchema, "Group", "Group", group),
		def(scim.EnterpriseUserSchema, "EnterpriseUser", "Enterprise User", enterprise),
	}
}

func resourceTypeDefs() []map[string]any {
	return []map[string]any{
		{"schemas": []string{schemaResourceType}, "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
			"schema": scim.CoreUserSchema, "schemaExtensions": []any{map[string]any{"schema": scim.EnterpriseUserSchema, "required": false}},
			"meta": map[string]any{"resourceType": "ResourceType", "location": "/ResourceTypes/User"}},
		{"schemas": []string{schemaResourceType}, "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Group",
			"schema": scim.GroupSchema, "meta": map[string]any{"resourceType": "ResourceType", "location": "/ResourceTypes/Group"}},
	}
}

func (h *request) schemas() error { return h.definitions(schemaDefs()) }

func (h *request) resourceTypes() error { return h.definitions(resourceTypeDefs()) }

// definitions answers /Schemas and /ResourceTypes: a ListResponse, or one definition by id.
func (h *request) definitions(defs []map[string]any) error {
	if h.rt.id != "" {
		for _, d := range defs {
			if strings.EqualFold(d["id"].(string), h.rt.id) {
				return h.writeJSON(http.StatusOK, d, "")
			}
		}
		return newError(http.StatusNotFound, "", "no definition "+h.rt.id)
	}
	res := make([]any, len(defs))
	for i, d := range defs {
		res[i] = d
	}
	return h.writeJSON(http.StatusOK, map[string]any{"schemas": []string{schemaListResponse}, "totalResults": len(defs),
		"startIndex": 1, "itemsPerPage": len(defs), "Resources": res}, "")
}
