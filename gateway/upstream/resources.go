package upstream

import (
	"context"
	"net/url"
	"strconv"
	"strings"
)

const (
	schemaUser  = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaPatch = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// listResponse is a SCIM ListResponse page.
type listResponse struct {
	TotalResults int              `json:"totalResults"`
	StartIndex   int              `json:"startIndex"`
	ItemsPerPage int              `json:"itemsPerPage"`
	Resources    []map[string]any `json:"Resources"`
}

// list pages through /<kind>?filter=… until totalResults are read, a page comes back empty, or a page brings
// no new ids (a service provider that ignores startIndex would otherwise be read forever).
func (c *client) list(ctx context.Context, kind, filter, what string) ([]map[string]any, error) {
	var out []map[string]any
	seen := map[string]bool{}
	start := 1
	for {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(c.cfg.PageSize)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		var page listResponse
		if err := c.do(ctx, "GET", "/"+kind+"?"+q.Encode(), nil, &page, what); err != nil {
			return nil, err
		}
		added := 0
		for _, r := range page.Resources {
			if id := idOf(r); id == "" || !seen[id] {
				seen[id] = true
				out = append(out, r)
				added++
			}
		}
		start += len(page.Resources)
		if added == 0 || len(out) >= page.TotalResults {
			return out, nil
		}
	}
}

// patch is a SCIM PatchOp body.
type patch struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

func newPatch(ops []patchOp) patch { return patch{Schemas: []string{schemaPatch}, Operations: ops} }

// quote renders s as a SCIM filter string literal.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// withSchema returns a copy of r without the attributes a service provider computes (id, meta) or that are
// not part of the resource's PUT/POST (except keep), with schemas set.
func withSchema(r map[string]any, schema string, drop ...string) map[string]any {
	out := make(map[string]any, len(r)+1)
	for k, v := range r {
		out[k] = v
	}
	for _, k := range append([]string{"id", "meta"}, drop...) {
		delete(out, k)
	}
	schemas := []any{schema}
	for k := range out {
		if strings.HasPrefix(k, "urn:") {
			schemas = append(schemas, k)
		}
	}
	out["schemas"] = schemas
	return out
}

func pathEscape(id string) string { return url.PathEscape(id) }

func idOf(r map[string]any) string {
	s, _ := r["id"].(string)
	return s
}
