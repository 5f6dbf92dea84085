package upstream

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/gateway/endpointtest"
)

// The reference SCIM server nobody on the team wrote: SCIMMY (RFC 7643/7644 resources, filters, PATCH) behind
// its express routers, with in-memory handlers. Pinned versions; CI needs node and npm (Debian: nodejs npm) and
// the npm registry.
const scimmyPackages = "scimmy@1.3.5 scimmy-routers@1.3.2 express@4.21.2"

const scimmyServer = `import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import {randomUUID} from "node:crypto";

const users = new Map(), groups = new Map();
const notFound = (id) => new SCIMMY.Types.Error(404, null, "Resource " + id + " not found");
const plain = (v) => JSON.parse(JSON.stringify(v));
const stamp = (old, type) => {
    const now = new Date().toISOString();
    return {resourceType: type, created: old?.meta?.created ?? now, lastModified: now};
};

function unique(map, attr, value, id, what) {
    for (const [other, r] of map) {
        if (other !== id && String(r[attr]).toLowerCase() === String(value).toLowerCase())
            throw new SCIMMY.Types.Error(409, "uniqueness", what + " " + value + " is taken");
    }
}

// userName and displayName are case-insensitive (RFC 7643 §4.1.1, §4.2) but SCIMMY's Filter.match compares
// exactly, leaving collation to the application: this one matches on case-folded copies, as a database with a
// case-insensitive collation would.
const folded = new Set(["username", "displayname"]);
function foldFilter(filter) {
    const walk = (v, key) => Array.isArray(v)
        ? v.map((x) => (typeof x === "string" && folded.has(key)) ? x.toLowerCase() : walk(x, key))
        : (v && typeof v === "object") ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k.toLowerCase())])) : v;
    return new SCIMMY.Types.Filter(walk(plain([...filter])));
}
function filtered(filter, all) {
    if (!filter) return all;
    const fold = (r) => ({...r, userName: r.userName?.toLowerCase(), displayName: r.displayName?.toLowerCase()});
    const ids = new Set(foldFilter(filter).match(all.map(fold)).map((r) => r.id));
    return all.filter((r) => ids.has(r.id));
}

function groupsOf(id) {
    return [...groups.values()].filter((g) => (g.members ?? []).some((m) => m.value === id))
        .map((g) => ({value: g.id, display: g.displayName, type: "direct"}));
}

SCIMMY.Resources.declare(SCIMMY.Resources.User)
    .ingress((resource, instance) => {
        const id = resource.id ?? randomUUID();
        if (resource.id && !users.has(id)) throw notFound(id);
        unique(users, "userName", instance.userName, id, "userName");
        const u = plain(instance);
        delete u.groups;
        u.id = id;
        u.meta = stamp(users.get(id), "User");
        users.set(id, u);
        return {...u, groups: groupsOf(id)};
    })
    .egress((resource) => {
        if (resource.id) {
            if (!users.has(resource.id)) throw notFound(resource.id);
            return {...users.get(resource.id), groups: groupsOf(resource.id)};
        }
        return filtered(resource.filter, [...users.values()].map((u) => ({...u, groups: groupsOf(u.id)})));
    })
    .degress((resource) => {
        if (!users.delete(resource.id)) throw notFound(resource.id);
        for (const g of groups.values()) g.members = (g.members ?? []).filter((m) => m.value !== resource.id);
    });

SCIMMY.Resources.declare(SCIMMY.Resources.Group)
    .ingress((resource, instance) => {
        const id = resource.id ?? randomUUID();
        if (resource.id && !groups.has(id)) throw notFound(id);
        unique(groups, "displayName", instance.displayName, id, "displayName");
        const g = plain(instance);
        g.id = id;
        g.members = (g.members ?? []).filter((m, i, all) => all.findIndex((x) => x.value === m.value) === i);
        for (const m of g.members) {
            if (!users.has(m.value)) throw new SCIMMY.Types.Error(400, "invalidValue", "member " + m.value + " is no user");
        }
        g.meta = stamp(groups.get(id), "Group");
        groups.set(id, g);
        return g;
    })
    .egress((resource) => {
        if (resource.id) {
            if (!groups.has(resource.id)) throw notFound(resource.id);
            return groups.get(resource.id);
        }
        return filtered(resource.filter, [...groups.values()]);
    })
    .degress((resource) => {
        if (!groups.delete(resource.id)) throw notFound(resource.id);
    });

const app = express();
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    handler: (request) => {
        if (request.header("Authorization") !== "Bearer " + process.env.SCIM_TOKEN) throw new Error("Authorization failed");
        return "gateway";
    },
}));
const server = app.listen(0, "127.0.0.1", () => console.log("listening " + server.address().port));
`

// startScimmy installs SCIMMY once into the user's cache directory (reused by later runs) and starts the
// reference server; it returns the SCIM base URL.
func startScimmy(t *testing.T, token string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: the upstream endpoint is tested against the SCIMMY reference server: apt-get install -y nodejs npm")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "scim-stream-test", "scimmy-"+strings.NewReplacer("@", "-", " ", "_").Replace(scimmyPackages))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "scimmy-routers")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"scimmy-reference","private":true,"type":"module"}`), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		args := append([]string{"install", "--no-audit", "--no-fund", "--loglevel=error"}, strings.Fields(scimmyPackages)...)
		cmd := exec.CommandContext(ctx, "npm", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install %s (needs node, npm and the npm registry): %v\n%s", scimmyPackages, err, out)
		}
	}
	script := filepath.Join(dir, "server.mjs")
	if err := os.WriteFile(script, []byte(scimmyServer), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SCIM_TOKEN="+token)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-lines:
		var port int
		if _, err := fmt.Sscanf(l, "listening %d", &port); err != nil {
			t.Fatalf("SCIMMY server said %q", l)
		}
		return fmt.Sprintf("http://127.0.0.1:%d/scim/v2", port)
	case <-time.After(30 * time.Second):
		t.Fatalf("SCIMMY server did not start: %s", stderr.String())
	}
	return ""
}

func TestConformanceAgainstSCIMMY(t *testing.T) {
	base := startScimmy(t, "scimmy-token")
	endpointtest.Run(t, func(t *testing.T) endpoint.Endpoint {
		return openYAML(t, "type: scim\nbase_urls: ["+base+"]\nauth: {type: bearer, token: scimmy-token}\npage_size: 5\n", t.TempDir())
	})
}
