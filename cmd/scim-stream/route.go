package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/dynamics"
	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

func init() {
	register("route", "show which channels a user change reaches and the exact messages (debug stream rules)", runRoute)
}

// routeResult is one channel's line of `route -json`.
type routeResult struct {
	Channel           string        `json:"channel"`
	Subject           string        `json:"subject"`
	Publish           bool          `json:"publish"`
	Matched           bool          `json:"matched"`
	PreviouslyMatched bool          `json:"previouslyMatched"`
	Message           *wire.Message `json:"message,omitempty"`
}

func runRoute(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("route", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration file")
	tenant := fs.String("tenant", "", "tenant name (may be left out when the configuration has one tenant)")
	typ := fs.String("type", "", "collector type: entra or hr (may be left out when the tenant name is unique)")
	userFile := fs.String("user", "", "JSON file: a SCIM user, or a whole stream message (its initiatedByUpn etc. then count; activityOperation deleteUser routes a deletion)")
	prevFile := fs.String("previous", "", "JSON file: the user (or message) before the change; none means a new user")
	asJSON := fs.Bool("json", false, `print [{"channel","subject","publish","message"}, …] for scripts`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "scim-stream route: %s\n", config.MaskSecrets(err.Error()))
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scim-stream route: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *userFile == "" {
		fmt.Fprintln(stderr, "scim-stream route: -user <file> is required (a SCIM user or a stream message as JSON)")
		return 2
	}
	c, err := config.Check(*cfgPath)
	if err != nil {
		return fail(err)
	}
	kind, name, t, err := pickTenant(c, *tenant, *typ)
	if err != nil {
		return fail(err)
	}
	wt, err := wire.ParseType(kind)
	if err != nil {
		return fail(err)
	}
	ct, err := collector.Compile(name, wt, t)
	if err != nil {
		return fail(err)
	}
	router, set := ct.Router, ct.Dynamics
	cur, fields, err := readUserFile(*userFile)
	if err != nil {
		return fail(err)
	}
	var prev scim.User
	if *prevFile != "" {
		if prev, _, err = readUserFile(*prevFile); err != nil {
			return fail(err)
		}
	}
	// The collector routes a change as modifyUser and a removal as deleteUser; a message file may say which.
	deleted := fields["activityOperation"] == wire.DeleteUser
	if fields["activityOperation"] == "" {
		fields["activityOperation"] = wire.ModifyUser
	}
	if deleted && prev == nil {
		prev = cur // the message's user is the one being deleted
	}
	// Dynamics run before the rules, as in the collector: the previous user's dynamics are what the current one
	// is compared with.
	prev, applied := set.Apply(prev, dynamics.Applied{})
	if deleted {
		cur = nil
	} else {
		cur, _ = set.Apply(cur, applied)
	}

	about := collector.About{TargetID: fields["targetId"], ActivityDateTime: fields["activityDateTime"],
		InitiatedByID: fields["initiatedById"], InitiatedByUPN: fields["initiatedByUpn"]}
	var results []routeResult
	for _, p := range collector.Plan(router, prev, cur, fields, false) {
		res := routeResult{Channel: p.Channel, Subject: wire.Subject(wt, p.Channel), Matched: p.Matched, PreviouslyMatched: p.PreviouslyMatched, Publish: p.Publish}
		if p.Publish {
			m := p.Message(about)
			res.Message = &m
		}
		results = append(results, res)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return fail(err)
		}
		return 0
	}
	for _, r := range results {
		switch {
		case r.Publish:
			why := "matches"
			switch {
			case r.Message.ActivityOperation == wire.DeleteUser:
				why = "the user was in the channel"
			case !r.Matched:
				why = "left the channel's scope (the previous user matched)"
			case !r.PreviouslyMatched:
				why = "matches (new to the channel)"
			}
			fmt.Fprintf(stdout, "%s: publish %s — %s\n", r.Subject, r.Message.ActivityOperation, why)
			b, err := json.MarshalIndent(r.Message, "", "  ")
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, "%s\n\n", b)
		case r.Matched || r.PreviouslyMatched:
			fmt.Fprintf(stdout, "%s: no message — in scope, but nothing this channel carries changed\n\n", r.Subject)
		default:
			fmt.Fprintf(stdout, "%s: no message — no rule matches\n\n", r.Subject)
		}
	}
	return 0
}

// pickTenant finds the tenant to route for; with one tenant (or a unique name) the flags may be left out.
func pickTenant(c *config.Config, tenant, typ string) (kind, name string, t *config.Tenant, err error) {
	type cand struct {
		kind, name string
		t          *config.Tenant
	}
	var all []cand
	for k, tt := range c.Tenants() {
		if (typ == "" || strings.EqualFold(typ, k.Kind)) && (tenant == "" || k.Name == tenant) {
			all = append(all, cand{k.Kind, k.Name, tt})
		}
	}
	if typ != "" && !strings.EqualFold(typ, "entra") && !strings.EqualFold(typ, "hr") {
		return "", "", nil, fmt.Errorf("-type %q: use entra or hr", typ)
	}
	switch len(all) {
	case 1:
		return all[0].kind, all[0].name, all[0].t, nil
	case 0:
		return "", "", nil, fmt.Errorf("no %s tenant %q in the configuration", orAny(typ), tenant)
	}
	names := make([]string, len(all)) // in the order of config.Tenants: sorted
	for i, a := range all {
		names[i] = a.kind + "." + a.name
	}
	return "", "", nil, fmt.Errorf("several tenants fit (%s): %s", strings.Join(names, ", "), pickHint(names))
}

// pickHint names the flags that choose among names (kind.tenant): -type alone when one tenant name has both
// collector types (what `bootstrap -entra T -hr T` makes), else -tenant and, when needed, -type.
func pickHint(names []string) string {
	tenants, kinds := map[string]bool{}, map[string]bool{}
	for _, n := range names {
		k, t, _ := strings.Cut(n, ".")
		kinds[k], tenants[t] = true, true
	}
	switch {
	case len(tenants) == 1:
		return "add -type entra or -type hr"
	case len(kinds) == 1:
		return "add -tenant NAME"
	}
	return "add -tenant NAME and -type entra|hr"
}

func orAny(typ string) string {
	if typ == "" {
		return "entra or hr"
	}
	return typ
}

// readUserFile reads a SCIM user, or a stream message whose user and top-level fields are taken.
func readUserFile(path string) (scim.User, rules.Fields, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, nil, fmt.Errorf("%s: not a JSON object (a SCIM user or a stream message): %w", path, err)
	}
	if obj == nil {
		return nil, nil, errors.New(path + ": null is not a user")
	}
	u, isMessage := obj["user"].(map[string]any)
	if !isMessage {
		return scim.User(obj), rules.Fields{}, nil
	}
	fields := rules.Fields{}
	for _, f := range rules.MessageFields {
		if s, ok := obj[f].(string); ok {
			fields[f] = s
		}
	}
	return scim.User(u), fields, nil
}
