package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

// resource serves /Users and /Groups.
func (h *request) resource() error {
	m := h.r.Method
	switch {
	case h.rt.id == "" && m == http.MethodGet:
		return h.list(h.r.URL.Query())
	case h.rt.id == ".search" && m == http.MethodPost:
		return h.search()
	case h.rt.id == "" && m == http.MethodPost:
		return h.create()
	case h.rt.id == "":
		return newError(http.StatusMethodNotAllowed, "", m+" /"+h.rt.resource+" is not supported: use GET or POST")
	case m == http.MethodGet:
		return h.get()
	case m == http.MethodPut:
		return h.replace()
	case m == http.MethodPatch:
		return h.patch()
	case m == http.MethodDelete:
		return h.delete()
	}
	return newError(http.StatusMethodNotAllowed, "", m+" is not supported on a "+strings.TrimSuffix(h.rt.resource, "s"))
}

func (h *request) isUsers() bool { return h.rt.resource == resUsers }

func (h *request) load(id string) (map[string]any, error) {
	if h.isUsers() {
		u, err := h.ep.GetUser(h.ctx, id)
		return u, err
	}
	g, err := h.ep.GetGroup(h.ctx, id)
	return g, err
}

// resolve loads the resource the path names and makes h.rt.id its endpoint id. Besides ids it accepts a
// userName (/Users/bjensen) or a group's displayName (/Groups/Admins), as the Node gateway's examples use them.
func (h *request) resolve() (map[string]any, error) {
	res, err := h.load(h.rt.id)
	if !errors.Is(err, endpoint.ErrNotFound) {
		return res, err
	}
	var alt map[string]any
	if h.isUsers() {
		u, ferr := h.ep.FindUser(h.ctx, h.rt.id)
		if ferr != nil {
			return nil, err
		}
		alt = u
	} else {
		gs, lerr := h.ep.ListGroups(h.ctx, fmt.Sprintf("displayName eq %q", h.rt.id))
		if lerr != nil {
			return nil, err
		}
		for _, g := range gs {
			if name, _ := g["displayName"].(string); strings.EqualFold(name, h.rt.id) {
				if alt != nil {
					return nil, err // ambiguous: not a name after all
				}
				alt = g
			}
		}
	}
	id, _ := alt["id"].(string)
	if id == "" {
		return nil, err
	}
	h.rt.id = id
	return alt, nil
}

// decorate sets meta.location, meta.resourceType, meta.version and schemas, which the client relies on and an
// endpoint may not keep.
func (h *request) decorate(res map[string]any) (map[string]any, string) {
	if res == nil {
		res = map[string]any{}
	}
	etag := etagOf(res, h.isUsers())
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta = scim.CloneValue(meta).(map[string]any)
	id, _ := res["id"].(string)
	rtype := "User"
	if !h.isUsers() {
		rtype = "Group"
	}
	meta["resourceType"] = rtype
	meta["version"] = etag
	if id != "" {
		meta["location"] = h.baseURL() + "/" + h.rt.resource + "/" + url.PathEscape(id)
	}
	out := make(map[string]any, len(res)+1)
	for k, v := range res {
		out[k] = v
	}
	out["meta"] = meta
	// schemas always names the resource's core schema (RFC 7643 §3): a resource created without schemas and
	// then PATCHed with an extension attribute would otherwise list only the extension.
	core := scim.CoreUserSchema
	if !h.isUsers() {
		core = scim.GroupSchema
	}
	schemas, _ := out["schemas"].([]any)
	if !slices.ContainsFunc(schemas, func(v any) bool { s, _ := v.(string); return strings.EqualFold(s, core) }) {
		out["schemas"] = append([]any{core}, schemas...)
	}
	return out, etag
}

func (h *request) projection(q url.Values) (scim.Projection, error) {
	p, err := scim.ParseProjection(param(q, "attributes"), param(q, "excludedAttributes"))
	if err != nil {
		return p, newError(http.StatusBadRequest, "invalidValue", "attributes: "+err.Error())
	}
	return p, nil
}

// param reads a query parameter case-insensitively (clients write startindex and startIndex).
func param(q url.Values, name string) string {
	if v, ok := q[name]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (h *request) get() error {
	res, err := h.resolve()
	if err != nil {
		return err
	}
	out, etag := h.decorate(res)
	if inm := h.r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		h.w.Header().Set("ETag", etag)
		h.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	p, err := h.projection(h.r.URL.Query())
	if err != nil {
		return err
	}
	return h.writeJSON(http.StatusOK, p.Apply(out), etag)
}

// etagMatches compares an If-Match/If-None-Match list with the current version (weak comparison).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// precondition enforces If-Match against the current resource.
func (h *request) precondition(current map[string]any) error {
	im := h.r.Header.Get("If-Match")
	if im == "" {
		return nil
	}
	if etag := etagOf(current, h.isUsers()); !etagMatches(im, etag) {
		return newError(http.StatusPreconditionFailed, "", fmt.Sprintf("the resource has changed: its version is %s, not %s", etag, im))
	}
	return nil
}

// checkBody refuses attribute names that are not SCIM attribute names, extension values that are not objects
// and core attributes of the wrong JSON type, drops what a client may not set (id, meta) and turns
// "True"/"False" strings of boolean attributes into booleans.
func checkBody(obj map[string]any, users bool) error {
	for k, v := range obj {
		if strings.HasPrefix(strings.ToLower(k), "urn:") {
			if _, ok := v.(map[string]any); !ok {
				return newError(http.StatusBadRequest, "invalidSyntax", fmt.Sprintf("extension %q must be a JSON object", k))
			}
			continue
		}
		if !validAttrName(k) {
			return newError(http.StatusBadRequest, "invalidValue", fmt.Sprintf("%q is not a valid attribute name", k))
		}
	}
	delete(obj, "id")
	delete(obj, "meta")
	scim.CoerceBooleans(obj)
	return checkTypes(obj, users)
}

// Attribute kinds of the core schemas (RFC 7643 §4.1, §4.2) that checkTypes enforces.
const (
	kindString = iota + 1
	kindBoolean
	kindComplex
	kindMulti // multi-valued complex: an array of objects
)

var (
	userKinds = map[string]int{
		"username": kindString, "name": kindComplex, "displayname": kindString, "nickname": kindString,
		"profileurl": kindString, "title": kindString, "usertype": kindString, "preferredlanguage": kindString,
		"locale": kindString, "timezone": kindString, "active": kindBoolean, "password": kindString,
		"externalid": kindString, "emails": kindMulti, "phonenumbers": kindMulti, "ims": kindMulti,
		"photos": kindMulti, "addresses": kindMulti, "groups": kindMulti, "entitlements": kindMulti,
		"roles": kindMulti, "x509certificates": kindMulti,
	}
	groupKinds = map[string]int{"displayname": kindString, "externalid": kindString, "members": kindMulti}
	kindNames  = map[int]string{kindString: "a string", kindBoolean: "a boolean", kindComplex: "an object", kindMulti: "an array of objects"}
)

// checkTypes refuses a core attribute whose value has the wrong JSON type (400 invalidValue), so that it is
// not stored, or handed to an endpoint that maps it (an LDAP attribute, an upstream application), in a shape
// no SCIM client can read back. Other attributes (misspelled ones, an application's own) are kept as they are:
// Microsoft's reference collection expects them to be accepted, and Entra sends custom extension attributes.
func checkTypes(obj map[string]any, users bool) error {
	kinds := groupKinds
	if users {
		kinds = userKinds
	}
	if v, ok := obj["schemas"]; ok && v != nil {
		arr, ok := v.([]any)
		for _, e := range arr {
			if _, isStr := e.(string); !isStr {
				ok = false
			}
		}
		if !ok {
			return newError(http.StatusBadRequest, "invalidValue", "schemas must be an array of schema URIs")
		}
	}
	for k, v := range obj {
		kind := kinds[strings.ToLower(k)]
		if kind == 0 || v == nil {
			continue
		}
		ok := true
		switch kind {
		case kindString:
			_, ok = v.(string)
		case kindBoolean:
			_, ok = v.(bool)
		case kindComplex:
			_, ok = v.(map[string]any)
		case kindMulti:
			var arr []any
			if arr, ok = v.([]any); ok {
				for _, e := range arr {
					if _, isObj := e.(map[string]any); !isObj {
						ok = false
					}
				}
			}
		}
		if !ok {
			return newError(http.StatusBadRequest, "invalidValue", fmt.Sprintf("%s must be %s", k, kindNames[kind]))
		}
	}
	return nil
}

// validAttrName follows RFC 7643 ATTRNAME: a letter, then letters, digits, '_' and '-' ("$ref" too).
func validAttrName(s string) bool {
	if s == "" || s == "$ref" {
		return s == "$ref"
	}
	for i, c := range s {
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if (i == 0 && !alpha) || (!alpha && !(c >= '0' && c <= '9') && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func (h *request) create() error {
	obj, err := h.readObject()
	if err != nil {
		return err
	}
	if err := checkBody(obj, h.isUsers()); err != nil {
		return err
	}
	var res map[string]any
	if h.isUsers() {
		if s, _ := obj["userName"].(string); strings.TrimSpace(s) == "" {
			return newError(http.StatusBadRequest, "invalidValue", "userName is mandatory")
		}
		res, err = h.ep.CreateUser(h.ctx, scim.User(obj))
	} else {
		if s, _ := obj["displayName"].(string); strings.TrimSpace(s) == "" {
			return newError(http.StatusBadRequest, "invalidValue", "displayName is mandatory")
		}
		res, err = h.ep.CreateGroup(h.ctx, scim.Group(obj))
	}
	if err != nil {
		return err
	}
	out, etag := h.decorate(res)
	if loc, ok := out["meta"].(map[string]any)["location"].(string); ok {
		h.w.Header().Set("Location", loc)
	}
	return h.writeJSON(http.StatusCreated, out, etag)
}

func (h *request) replace() error {
	obj, err := h.readObject()
	if err != nil {
		return err
	}
	if err := checkBody(obj, h.isUsers()); err != nil {
		return err
	}
	current, err := h.resolve()
	if err != nil {
		return err
	}
	if err := h.precondition(current); err != nil {
		return err
	}
	var res map[string]any
	if h.isUsers() {
		res, err = h.ep.ReplaceUser(h.ctx, h.rt.id, scim.User(obj))
	} else {
		res, err = h.ep.ReplaceGroup(h.ctx, h.rt.id, scim.Group(obj))
	}
	if err != nil {
		return err
	}
	out, etag := h.decorate(res)
	return h.writeJSON(http.StatusOK, out, etag)
}

func (h *request) delete() error {
	current, err := h.resolve()
	if err != nil {
		return err
	}
	if err := h.precondition(current); err != nil {
		return err
	}
	if h.isUsers() {
		err = h.ep.DeleteUser(h.ctx, h.rt.id)
	} else {
		err = h.ep.DeleteGroup(h.ctx, h.rt.id)
	}
	if err != nil {
		return err
	}
	h.w.WriteHeader(http.StatusNoContent)
	return nil
}

// patch applies PATCH through the endpoint's whole-resource operations: read, apply, replace. Group
// memberships go through AddMembers/RemoveMembers with the difference the operations made, so that
// concurrent membership changes by other requests are kept.
func (h *request) patch() error {
	body, err := h.readBody()
	if err != nil {
		return err
	}
	ops, err := scim.ParsePatchRequest(body)
	if err != nil {
		return err
	}
	current, err := h.resolve()
	if err != nil {
		return err
	}
	if err := h.precondition(current); err != nil {
		return err
	}
	next, err := scim.ApplyPatch(current, ops)
	if err != nil {
		return err
	}
	if !h.isUsers() {
		// A member given as a bare id string ("value": "<id>" without the object) is read as {"value": id}.
		if id, ok := next["members"].(string); ok {
			next["members"] = []any{id}
		}
		if arr, ok := next["members"].([]any); ok {
			for i, m := range arr {
				if id, ok := m.(string); ok {
					arr[i] = map[string]any{"value": id}
				}
			}
		}
	}
	if err := checkTypes(next, h.isUsers()); err != nil {
		return err
	}
	var res map[string]any
	if h.isUsers() {
		delete(next, "groups") // read-only on users: memberships are changed on groups
		delete(next, "meta")
		if scim.Equal(withoutKeys(current, "groups", "meta"), next) {
			res = current
		} else if res, err = h.ep.ReplaceUser(h.ctx, h.rt.id, scim.User(next)); err != nil {
			return err
		}
	} else {
		before, after := memberSet(current["members"]), memberSet(next["members"])
		var add, remove []string
		for id := range after {
			if !before[id] {
				add = append(add, id)
			}
		}
		for id := range before {
			if !after[id] {
				remove = append(remove, id)
			}
		}
		slices.Sort(add)
		slices.Sort(remove)
		attrsBefore, attrsAfter := withoutKeys(current, "members", "meta"), withoutKeys(next, "members", "meta")
		if !scim.Equal(attrsBefore, attrsAfter) {
			if _, err := h.ep.ReplaceGroup(h.ctx, h.rt.id, scim.Group(attrsAfter)); err != nil {
				return err
			}
		}
		if len(remove) > 0 {
			if err := h.ep.RemoveMembers(h.ctx, h.rt.id, remove...); err != nil {
				return err
			}
		}
		if len(add) > 0 {
			if err := h.ep.AddMembers(h.ctx, h.rt.id, add...); err != nil {
				if errors.Is(err, endpoint.ErrNotFound) {
					// The group exists (it was just read): what is missing is a member.
					return newError(http.StatusBadRequest, "invalidValue", "members: "+err.Error())
				}
				return err
			}
		}
		if res, err = h.load(h.rt.id); err != nil {
			return err
		}
	}
	out, etag := h.decorate(res)
	p, err := h.projection(h.r.URL.Query())
	if err != nil {
		return err
	}
	return h.writeJSON(http.StatusOK, p.Apply(out), etag)
}

func withoutKeys(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

// memberSet is the set of member ids of a members attribute.
func memberSet(v any) map[string]bool {
	out := map[string]bool{}
	arr, _ := v.([]any)
	for _, el := range arr {
		switch x := el.(type) {
		case map[string]any:
			if id, ok := x["value"].(string); ok && id != "" {
				out[id] = true
			}
		case string:
			out[x] = true
		}
	}
	return out
}

// search is POST /.search (RFC 7644 §3.4.3): the query parameters in a body.
func (h *request) search() error {
	obj, err := h.readObject()
	if err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range obj {
		switch x := v.(type) {
		case string:
			q.Set(k, x)
		case float64:
			q.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
		case []any:
			var parts []string
			for _, e := range x {
				if s, ok := e.(string); ok {
					parts = append(parts, s)
				}
			}
			q.Set(k, strings.Join(parts, ","))
		}
	}
	return h.list(q)
}
