package entra

import (
	"fmt"
	"testing"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/collector/sourcetest"
)

// TestSourceConformance runs the collector's source conformance suite against the imitation Graph tenant (delta
// queries, pages of 7).
func TestSourceConformance(t *testing.T) {
	e := newEnv(t, 7, nil)
	changes := 0
	sourcetest.Run(t, sourcetest.Harness{
		New: func(t *testing.T) collector.Source { return e.newSource(t) },
		IDs: func(*testing.T) []string {
			ids := make([]string, len(members))
			for i, m := range members {
				ids[i] = e.user(m)
			}
			return ids
		},
		Change: func(t *testing.T) string {
			id := e.user(members[changes%len(members)])
			changes++
			must(t, e.co.UpdateUser(e.co.Admin, id, map[string]any{"jobTitle": fmt.Sprintf("Title %d", changes)}))
			return id
		},
		Policy: collector.Policy{Leavers: collector.LeaversDeleted},
	})
}
