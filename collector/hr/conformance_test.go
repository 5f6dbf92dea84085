package hr

import (
	"fmt"
	"testing"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/collector/sourcetest"
)

// TestSourceConformance runs the collector's source conformance suite against the SuccessFactors imitation with
// the documentation's query, several pages per collection.
func TestSourceConformance(t *testing.T) {
	clk := &clock{t: fixedNow}
	sf, srv := imitation(t, 12, 5, clk)
	tc := tenant(basicAuth(srv, sf), docsQuery, "d.results")
	changes := 0
	sourcetest.Run(t, sourcetest.Harness{
		New: func(t *testing.T) collector.Source { return newSource(t, tc, srv.Client(), clk, nil, "") },
		IDs: func(*testing.T) []string { return sf.Company.IDs() },
		Change: func(t *testing.T) string {
			ids := sf.Company.IDs()
			id := ids[changes%len(ids)]
			changes++
			if err := sf.Company.SetTitle(id, fmt.Sprintf("Title %d", changes)); err != nil {
				t.Fatal(err)
			}
			return id
		},
		Policy: collector.Policy{Leavers: collector.LeaversDeactivated, Lifecycle: true},
	})
}
