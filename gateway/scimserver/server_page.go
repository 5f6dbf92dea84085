package scimserver

import (
	"context"
	"net/http"

	"github.com/scim-stream/scim-stream/scim"
)

// UserPager is an endpoint that reads one page of users without reading the others (the embedded store). The
// server uses it for GET /Users without filter and sortBy — the listing a client pages through — so that a page
// of 50 out of 100,000 users costs 50 users of memory, not 100,000.
type UserPager interface {
	// UsersPage returns the users [start, start+count) (0-based) in a stable order, and how many there are.
	UsersPage(ctx context.Context, start, count int) ([]scim.User, int, error)
}

// listPage answers a list without filter and sortBy from one page of the endpoint.
func (h *request) listPage(p UserPager, startIndex, count int, proj scim.Projection) error {
	users, total, err := p.UsersPage(h.ctx, startIndex-1, count)
	if err != nil {
		return err
	}
	resources := make([]any, 0, len(users))
	for _, u := range users {
		out, _ := h.decorate(u)
		resources = append(resources, proj.Apply(out))
	}
	return h.writeJSON(http.StatusOK, map[string]any{
		"schemas":      []string{schemaListResponse},
		"totalResults": total,
		"startIndex":   startIndex,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	}, "")
}
