package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

// list serves GET /Users and /Groups (RFC 7644 §3.4.2): filter, sortBy/sortOrder, startIndex/count and
// attributes/excludedAttributes. The endpoint may narrow by the filter; the server filters, sorts and pages
// again, so every endpoint answers the full grammar.
func (h *request) list(q url.Values) error {
	var flt scim.Filter
	rawFilter := param(q, "filter")
	if strings.TrimSpace(rawFilter) != "" {
		var err error
		if flt, err = scim.ParseFilter(rawFilter); err != nil {
			return err
		}
	}
	startIndex, err := intParam(q, "startIndex", 1)
	if err != nil {
		return err
	}
	if startIndex < 1 {
		startIndex = 1 // RFC 7644 §3.4.2.4: a value less than 1 is interpreted as 1
	}
	count, err := intParam(q, "count", maxResults)
	if err != nil {
		return err
	}
	if count < 0 {
		count = 0
	}
	if count > maxResults {
		count = maxResults
	}
	sortBy := param(q, "sortBy")
	descending := false
	switch strings.ToLower(param(q, "sortOrder")) {
	case "", "ascending":
	case "descending":
		descending = true
	default:
		return newError(http.StatusBadRequest, "invalidValue", fmt.Sprintf("sortOrder %q: use ascending or descending", param(q, "sortOrder")))
	}
	proj, err := h.projection(q)
	if err != nil {
		return err
	}

	if rawFilter == "" && sortBy == "" && h.isUsers() {
		if pager, ok := h.ep.(UserPager); ok {
			return h.listPage(pager, startIndex, count, proj)
		}
	}
	all, err := h.fetch(flt, rawFilter)
	if err != nil {
		return err
	}
	var matched []map[string]any
	for _, res := range all {
		if flt.Match(res) {
			matched = append(matched, res)
		}
	}
	if sortBy != "" {
		keys := make([]any, len(matched))
		for i, m := range matched {
			keys[i] = scim.SortKey(m, sortBy)
		}
		idx := make([]int, len(matched))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool {
			c := scim.CompareSortKeys(keys[idx[a]], keys[idx[b]])
			if descending && keys[idx[a]] != nil && keys[idx[b]] != nil {
				c = -c
			}
			return c < 0
		})
		sorted := make([]map[string]any, len(matched))
		for i, j := range idx {
			sorted[i] = matched[j]
		}
		matched = sorted
	}
	total := len(matched)
	from := min(startIndex-1, total)
	to := min(from+count, total)
	resources := make([]any, 0, to-from)
	for _, res := range matched[from:to] {
		out, _ := h.decorate(res)
		resources = append(resources, proj.Apply(out))
	}
	body := map[string]any{
		"schemas":      []string{schemaListResponse},
		"totalResults": total,
		"startIndex":   startIndex,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}
	return h.writeJSON(http.StatusOK, body, "")
}

// fetch asks the endpoint for candidates; an equality test on userName (Entra's lookup before every create) is
// a single FindUser, one on id a single GetUser: an indexed filter never reads the whole endpoint.
func (h *request) fetch(flt scim.Filter, raw string) ([]map[string]any, error) {
	var out []map[string]any
	if h.isUsers() {
		if attr, value, ok := flt.EqualityTest(); ok && (strings.EqualFold(attr, "userName") || strings.EqualFold(attr, "id")) {
			find := h.ep.FindUser
			if strings.EqualFold(attr, "id") {
				find = h.ep.GetUser
			}
			u, err := find(h.ctx, value)
			if errors.Is(err, endpoint.ErrNotFound) {
				return nil, nil
			}
			if err == nil {
				return []map[string]any{u}, nil
			}
			// An id the endpoint cannot even parse (an LDAP GUID) is not an error of the list: narrow by listing.
			if !strings.EqualFold(attr, "id") {
				return nil, err
			}
		}
		users, err := h.ep.ListUsers(h.ctx, raw)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			out = append(out, u)
		}
		return out, nil
	}
	groups, err := h.ep.ListGroups(h.ctx, raw)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		out = append(out, g)
	}
	return out, nil
}

func intParam(q url.Values, name string, def int) (int, error) {
	s := param(q, name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, newError(http.StatusBadRequest, "invalidValue", fmt.Sprintf("%s %q is not an integer", name, s))
	}
	return n, nil
}
