package upstream

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/gateway"
	"github.com/scim-stream/scim-stream/gateway/store"
	"github.com/scim-stream/scim-stream/scim"
)

// scimServer is a small SCIM 2.0 service provider over the gateway's store endpoint, for testing the upstream
// endpoint over real HTTP until the gateway's own SCIM server can be used here. It speaks RFC 7644: ListResponse
// with filter and paging, PatchOp with replace/remove/add, error bodies with scimType.
type scimServer struct {
	ep gateway.Endpoint
}

func newStoreServer(t *testing.T) http.Handler {
	t.Helper()
	st, err := store.Open(t.TempDir() + "/store.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mux := http.NewServeMux()
	s := &scimServer{ep: st}
	mux.HandleFunc("GET /Users", s.listUsers)
	mux.HandleFunc("POST /Users", s.createUser)
	mux.HandleFunc("GET /Users/{id}", s.getUser)
	mux.HandleFunc("PUT /Users/{id}", s.replaceUser)
	mux.HandleFunc("PATCH /Users/{id}", s.patchUser)
	mux.HandleFunc("DELETE /Users/{id}", s.deleteUser)
	mux.HandleFunc("GET /Groups", s.listGroups)
	mux.HandleFunc("POST /Groups", s.createGroup)
	mux.HandleFunc("GET /Groups/{id}", s.getGroup)
	mux.HandleFunc("PUT /Groups/{id}", s.replaceGroup)
	mux.HandleFunc("PATCH /Groups/{id}", s.patchGroup)
	mux.HandleFunc("DELETE /Groups/{id}", s.deleteGroup)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", scimJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	status, typ := http.StatusInternalServerError, ""
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, gateway.ErrConflict):
		status, typ = http.StatusConflict, "uniqueness"
	case errors.Is(err, gateway.ErrInvalid):
		status, typ = http.StatusBadRequest, "invalidValue"
	case errors.Is(err, gateway.ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  strconv.Itoa(status), "scimType": typ, "detail": err.Error(),
	})
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != scimJSON {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]any{"detail": "content type " + ct})
		return false
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"scimType": "invalidSyntax", "detail": err.Error()})
		return false
	}
	return true
}

// page applies the filter again (the endpoint may return a superset) and startIndex/count.
func page[T ~map[string]any](w http.ResponseWriter, r *http.Request, all []T) {
	var res []map[string]any
	f := r.URL.Query().Get("filter")
	var flt scim.Filter
	if f != "" {
		var err error
		if flt, err = scim.ParseFilter(f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"scimType": "invalidFilter", "detail": err.Error()})
			return
		}
	}
	for _, x := range all {
		if f == "" || flt.Match(x) {
			res = append(res, x)
		}
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
	count, err := strconv.Atoi(r.URL.Query().Get("count"))
	if start < 1 {
		start = 1
	}
	if err != nil {
		count = len(res)
	}
	total := len(res)
	lo := min(start-1, total)
	hi := min(lo+count, total)
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{schemaListPrefix},
		"totalResults": total, "startIndex": start, "itemsPerPage": hi - lo,
		"Resources": res[lo:hi],
	})
}

func (s *scimServer) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.ep.ListUsers(r.Context(), r.URL.Query().Get("filter"))
	if err != nil {
		writeErr(w, err)
		return
	}
	page(w, r, us)
}

func (s *scimServer) createUser(w http.ResponseWriter, r *http.Request) {
	var u scim.User
	if !readBody(w, r, &u) {
		return
	}
	delete(u, "schemas")
	out, err := s.ep.CreateUser(r.Context(), u)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *scimServer) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.ep.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *scimServer) replaceUser(w http.ResponseWriter, r *http.Request) {
	var u scim.User
	if !readBody(w, r, &u) {
		return
	}
	delete(u, "schemas")
	out, err := s.ep.ReplaceUser(r.Context(), r.PathValue("id"), u)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// patchUser understands replace/remove with attribute paths (a.b, urn:…:attr), which is what the endpoint sends.
func (s *scimServer) patchUser(w http.ResponseWriter, r *http.Request) {
	var p patch
	if !readBody(w, r, &p) {
		return
	}
	changes := scim.User{}
	for _, o := range p.Operations {
		var v any
		switch strings.ToLower(o.Op) {
		case "replace", "add":
			v = o.Value
		case "remove":
		default:
			writeJSON(w, http.StatusBadRequest, map[string]any{"scimType": "invalidSyntax", "detail": "op " + o.Op})
			return
		}
		parent, attr := o.Path, ""
		if strings.HasPrefix(o.Path, "urn:") {
			i := strings.LastIndex(o.Path, ":")
			parent, attr = o.Path[:i], o.Path[i+1:]
		} else if i := strings.Index(o.Path, "."); i > 0 {
			parent, attr = o.Path[:i], o.Path[i+1:]
		}
		if attr == "" {
			changes[parent] = v
			continue
		}
		m, _ := changes[parent].(map[string]any)
		if m == nil {
			m = map[string]any{}
			changes[parent] = m
		}
		m[attr] = v
	}
	if _, err := s.ep.ModifyUser(r.Context(), r.PathValue("id"), changes); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent) // RFC 7644 §3.5.2: 204 without a body is allowed
}

func (s *scimServer) deleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.ep.DeleteUser(r.Context(), r.PathValue("id")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *scimServer) listGroups(w http.ResponseWriter, r *http.Request) {
	gs, err := s.ep.ListGroups(r.Context(), r.URL.Query().Get("filter"))
	if err != nil {
		writeErr(w, err)
		return
	}
	page(w, r, gs)
}

func (s *scimServer) createGroup(w http.ResponseWriter, r *http.Request) {
	var g scim.Group
	if !readBody(w, r, &g) {
		return
	}
	delete(g, "schemas")
	out, err := s.ep.CreateGroup(r.Context(), g)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *scimServer) getGroup(w http.ResponseWriter, r *http.Request) {
	g, err := s.ep.GetGroup(r.Context(), r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *scimServer) replaceGroup(w http.ResponseWriter, r *http.Request) {
	var g scim.Group
	if !readBody(w, r, &g) {
		return
	}
	delete(g, "schemas")
	out, err := s.ep.ReplaceGroup(r.Context(), r.PathValue("id"), g)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// patchGroup understands add members and remove members[value eq "…"].
func (s *scimServer) patchGroup(w http.ResponseWriter, r *http.Request) {
	var p patch
	if !readBody(w, r, &p) {
		return
	}
	id := r.PathValue("id")
	for _, o := range p.Operations {
		var err error
		switch {
		case strings.EqualFold(o.Op, "add") && o.Path == "members":
			var ids []string
			for _, m := range o.Value.([]any) {
				ids = append(ids, m.(map[string]any)["value"].(string))
			}
			err = s.ep.AddMembers(r.Context(), id, ids...)
		case strings.EqualFold(o.Op, "remove") && strings.HasPrefix(o.Path, "members[value eq "):
			f, ferr := scim.ParseFilter(strings.TrimSuffix(strings.TrimPrefix(o.Path, "members["), "]"))
			if ferr != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"scimType": "invalidPath", "detail": ferr.Error()})
				return
			}
			g, gerr := s.ep.GetGroup(r.Context(), id)
			if gerr != nil {
				writeErr(w, gerr)
				return
			}
			for _, m := range memberRefs(g["members"]) {
				if f.Match(m.(map[string]any)) {
					err = s.ep.RemoveMembers(r.Context(), id, m.(map[string]any)["value"].(string))
				}
			}
		default:
			writeJSON(w, http.StatusBadRequest, map[string]any{"scimType": "invalidPath", "detail": o.Op + " " + o.Path})
			return
		}
		if err != nil {
			writeErr(w, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *scimServer) deleteGroup(w http.ResponseWriter, r *http.Request) {
	if err := s.ep.DeleteGroup(r.Context(), r.PathValue("id")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
