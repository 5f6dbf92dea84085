package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/internal/demo"
	"github.com/scim-stream/scim-stream/wire"
)

// TestClusterGrowsFromSingleNode: a single node collects; it is stopped, its collector state exported
// (state-export), and three cluster nodes given the export (nats.server.cluster.import_state) continue: the first
// collection republishes nobody, and a change is published once, as a modification.
func TestClusterGrowsFromSingleNode(t *testing.T) {
	f := newHRFixture(t, 12, "")
	r := f.run(t, "")
	sub := subscribe(t, f.cfgPath, r.env.Broker.ClientURL(), r.env.Broker.CAFile(), "HR.SF", "grow")
	if got := sub.exactly(t, 11); len(got) != 11 {
		t.Fatalf("single node: %d users, want 11", len(got))
	}
	r.stop(t)
	export := filepath.Join(f.dir, "state.jsonl")
	out, errOut := mustCLI(t, "state-export", "-config", f.cfgPath, "-out", export)
	if !strings.Contains(out, "state_"+demo.Tenant+"_HR:") {
		t.Fatalf("state-export: %s %s", out, errOut)
	}

	ports := make([]int, 6)
	for i := range ports {
		p, err := demo.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3+i]))
	}
	var nodes []*running
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 3 {
		dir := filepath.Join(f.dir, fmt.Sprintf("node%d", i), "config")
		copyDir(t, filepath.Dir(f.cfgPath), dir)
		cfgPath := filepath.Join(dir, "config.yaml")
		if err := config.Update(cfgPath,
			config.Change{Path: []string{"nats", "server", "port"}, Value: ports[i]},
			config.Change{Path: []string{"nats", "server", "cluster", "name"}, Value: fmt.Sprintf("n%d", i)},
			config.Change{Path: []string{"nats", "server", "cluster", "port"}, Value: ports[3+i]},
			config.Change{Path: []string{"nats", "server", "cluster", "routes"}, Value: routes},
			config.Change{Path: []string{"nats", "server", "cluster", "import_state"}, Value: export},
		); err != nil {
			t.Fatal(err)
		}
		g := &hrFixture{company: f.company, api: f.api, url: f.url, dir: filepath.Dir(dir), cfgPath: cfgPath}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := g.run(t, "")
			mu.Lock()
			nodes = append(nodes, n)
			mu.Unlock()
		}()
	}
	wg.Wait()
	logs := func() string {
		var b strings.Builder
		for _, n := range nodes {
			b.WriteString(n.out.String())
		}
		return b.String()
	}
	waitFor(t, "a collection on the cluster", 2*time.Minute, func() bool { return strings.Contains(logs(), "collection done") })
	if !strings.Contains(logs(), "collector state imported from a single node's export") {
		t.Fatalf("no node imported the state:\n%s", logs())
	}
	// A subscriber of the cluster (a new durable: the single node's stream is not carried over) sees no
	// republished user, then exactly the one change.
	n0 := nodes[0]
	csub := subscribe(t, n0.env.ConfigPath, n0.env.Broker.ClientURL(), n0.env.Broker.CAFile(), "HR.SF", "grown")
	if got := csub.fetch(t, 20, 2*time.Second); len(got) != 0 {
		t.Fatalf("the cluster republished %d users the single node had published", len(got))
	}
	if err := f.company.SetTitle("1004", "Grown Up"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.env.Runner.Trigger(wire.HR, demo.Tenant)
	}
	got := csub.exactly(t, 1)
	if len(got) != 1 || got[0].ActivityOperation != wire.ModifyUser || got[0].TargetID != "1004" {
		t.Fatalf("want one modifyUser of 1004 after growing, got %+v", got)
	}
}
