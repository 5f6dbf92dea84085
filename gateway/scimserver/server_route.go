package scimserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Resources a path can address (case-insensitive in URLs).
const (
	resUsers                 = "Users"
	resGroups                = "Groups"
	resServiceProviderConfig = "ServiceProviderConfig"
	resSchemas               = "Schemas"
	resResourceTypes         = "ResourceTypes"
	resBulk                  = "Bulk"
	resAppRoles              = "AppRoles"
	resPing                  = "ping"
)

var resourceNames = map[string]string{
	"users": resUsers, "groups": resGroups, "serviceproviderconfig": resServiceProviderConfig,
	"serviceproviderconfigs": resServiceProviderConfig,
	// Microsoft's SCIM reference server (and its Postman collection) calls it serviceConfiguration.
	"serviceconfiguration": resServiceProviderConfig, "schemas": resSchemas, "resourcetypes": resResourceTypes,
	"bulk": resBulk, "approles": resAppRoles, "ping": resPing,
}

// route is a parsed request path: [/<baseEntity>]/<resource>[/<id>].
type route struct {
	baseEntity string
	resource   string
	id         string
}

// parseRoute splits the escaped path into decoded segments and refuses any that could escape its place:
// "..", ".", an encoded slash or backslash, control characters. Ids are handed to endpoints that may use them
// in file names, LDAP DNs or upstream URLs.
func parseRoute(escapedPath string) (route, error) {
	var segs []string
	for _, raw := range strings.Split(strings.Trim(escapedPath, "/"), "/") {
		if raw == "" {
			continue
		}
		seg, err := url.PathUnescape(raw)
		if err != nil {
			return route{}, newError(http.StatusBadRequest, "invalidValue", fmt.Sprintf("path segment %q is not valid URL encoding", raw))
		}
		if err := checkSegment(seg); err != nil {
			return route{}, err
		}
		segs = append(segs, seg)
	}
	var rt route
	if len(segs) > 0 {
		if _, known := resourceNames[strings.ToLower(segs[0])]; !known {
			rt.baseEntity, segs = segs[0], segs[1:]
		}
	}
	if len(segs) == 0 {
		return rt, newError(http.StatusNotFound, "", "no resource in the path: use /Users, /Groups, /ServiceProviderConfig, /Schemas, /ResourceTypes or /Bulk")
	}
	res, known := resourceNames[strings.ToLower(segs[0])]
	if !known {
		return rt, newError(http.StatusNotFound, "", fmt.Sprintf("unknown resource %q", segs[0]))
	}
	rt.resource = res
	switch len(segs) {
	case 1:
	case 2:
		rt.id = segs[1]
	default:
		return rt, newError(http.StatusNotFound, "", fmt.Sprintf("unknown path below /%s/%s", res, segs[1]))
	}
	return rt, nil
}

func checkSegment(seg string) error {
	if seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\") {
		return newError(http.StatusBadRequest, "invalidValue", fmt.Sprintf("path segment %q is not allowed", seg))
	}
	for _, r := range seg {
		if r < 0x20 || r == 0x7f {
			return newError(http.StatusBadRequest, "invalidValue", fmt.Sprintf("path segment %q contains a control character", seg))
		}
	}
	return nil
}
