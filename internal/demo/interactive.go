package demo

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/scim-stream/scim-stream/wire"
)

const demoHelp = `Commands (the change is made in the imitation source, then collected at once):
  title <who> <new title>       change a job title (HR: person id such as 1003; Entra: nickname such as john.smith)
  leave <person id>             end an HR employment yesterday (a leaver: active becomes false)
  join <group> <nickname>       add an Entra user to a group (groups: ` + "`groups`" + ` lists them)
  part <group> <nickname>       remove an Entra user from a group
  role <nickname> <app> <role>  assign an application role (apps: Application1 Employees|Admins, "HR Portal" Reader|Manager)
  unrole <nickname> <app> <role>
  delete <nickname>             delete an Entra user (soft delete: active becomes false)
  people | users | groups       list HR people, Entra users, Entra groups
  store                         the users in the gateway's store
  summary | help | quit`

// interactive reads commands until quit, end of input or ctx ends.
func (d *demo) interactive(ctx context.Context, in *bufio.Scanner) {
	for in.Scan() {
		if ctx.Err() != nil {
			return
		}
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		if line == "quit" || line == "exit" {
			return
		}
		if err := d.command(ctx, line); err != nil {
			d.line("", "error", err.Error())
		}
	}
}

// command runs one interactive command.
func (d *demo) command(ctx context.Context, line string) error {
	f := fields(line)
	if len(f) == 0 {
		return nil
	}
	co, t := d.co, d.co.Tenant
	userID := func(nick string) (string, error) {
		if id, ok := co.Users[nick]; ok {
			return id, nil
		}
		return "", fmt.Errorf("no Entra user %q (try: users)", nick)
	}
	groupID := func(name string) (string, error) {
		if id, ok := co.Groups[name]; ok {
			return id, nil
		}
		return "", fmt.Errorf("no Entra group %q (try: groups)", name)
	}
	appID := func(name string) (string, error) {
		switch strings.ToLower(name) {
		case "application1", "app1":
			return co.App1, nil
		case "hr portal", "hrportal":
			return co.HRPortal, nil
		}
		return "", fmt.Errorf("no application %q: Application1 or \"HR Portal\"", name)
	}
	need := func(n int, usage string) error {
		if len(f) < n {
			return fmt.Errorf("usage: %s", usage)
		}
		return nil
	}
	var typ wire.Type
	switch f[0] {
	case "help":
		fmt.Fprintln(d.out, demoHelp)
		return nil
	case "summary":
		d.summary()
		return nil
	case "people":
		var rows []string
		for _, id := range d.sf.IDs() {
			p, _ := d.sf.Person(id)
			title := ""
			if n := len(p.Employments); n > 0 {
				title = p.Employments[n-1].JobTitle
			}
			rows = append(rows, fmt.Sprintf("%s  %s %s  (%s)", id, p.FirstName, p.LastName, title))
		}
		fmt.Fprintln(d.out, strings.Join(rows, "\n"))
		return nil
	case "users":
		var rows []string
		for nick, id := range co.Users {
			u := t.User(id)
			if u == nil {
				continue
			}
			rows = append(rows, fmt.Sprintf("%-22s %v  (%v)", nick, u["displayName"], u["jobTitle"]))
		}
		sort.Strings(rows)
		fmt.Fprintln(d.out, strings.Join(rows, "\n"))
		return nil
	case "groups":
		var names []string
		for g := range co.Groups {
			names = append(names, fmt.Sprintf("%q", g))
		}
		sort.Strings(names)
		fmt.Fprintln(d.out, strings.Join(names, " "))
		return nil
	case "store":
		if d.store == nil {
			return fmt.Errorf("the gateway has no store")
		}
		us, err := d.store.ListUsers(ctx, "")
		if err != nil {
			return err
		}
		var rows []string
		for _, u := range us {
			var groups []string
			gs, _ := u["groups"].([]any)
			for _, g := range gs {
				if m, ok := g.(map[string]any); ok {
					groups = append(groups, fmt.Sprint(m["display"]))
				}
			}
			rows = append(rows, fmt.Sprintf("%-45s active=%v title=%v groups=%v", u["userName"], u["active"], u["title"], groups))
		}
		sort.Strings(rows)
		fmt.Fprintf(d.out, "%s\n(%d users)\n", strings.Join(rows, "\n"), len(us))
		return nil
	case "title":
		if err := need(3, "title <person id|nickname> <new title>"); err != nil {
			return err
		}
		title := strings.Join(f[2:], " ")
		if _, ok := d.sf.Person(f[1]); ok {
			if err := d.sf.SetTitle(f[1], title); err != nil {
				return err
			}
			typ = wire.HR
			break
		}
		id, err := userID(f[1])
		if err != nil {
			return fmt.Errorf("%q is neither an HR person id (try: people) nor an Entra nickname (try: users)", f[1])
		}
		if err := t.UpdateUser(co.Admin, id, map[string]any{"jobTitle": title}); err != nil {
			return err
		}
		typ = wire.Entra
	case "leave":
		if err := need(2, "leave <person id>"); err != nil {
			return err
		}
		if err := d.sf.SetEndDate(f[1], time.Now().AddDate(0, 0, -1)); err != nil {
			return err
		}
		typ = wire.HR
	case "join", "part":
		if err := need(3, f[0]+" <group> <nickname>"); err != nil {
			return err
		}
		g, err := groupID(f[1])
		if err != nil {
			return err
		}
		u, err := userID(f[2])
		if err != nil {
			return err
		}
		if f[0] == "join" {
			err = t.AddMember(co.Admin, g, u)
		} else {
			err = t.RemoveMember(co.Admin, g, u)
		}
		if err != nil {
			return err
		}
		typ = wire.Entra
	case "role", "unrole":
		if err := need(4, f[0]+" <nickname> <app> <role>"); err != nil {
			return err
		}
		u, err := userID(f[1])
		if err != nil {
			return err
		}
		app, err := appID(f[2])
		if err != nil {
			return err
		}
		// The imitation accepts an assignment that already holds (as a removal that does not) without a
		// change: say so, instead of waiting for messages that never come.
		if has, err := t.HasAppRole(app, u, f[3]); err != nil {
			return err
		} else if has == (f[0] == "role") {
			d.line(string(wire.Entra), "no change", fmt.Sprintf("%s %s role %s of %s directly: nothing to collect", f[1], map[bool]string{true: "already has", false: "has no"}[has], f[3], f[2]))
			return nil
		}
		if f[0] == "role" {
			err = t.AssignAppRole(co.Admin, app, u, f[3])
		} else {
			err = t.UnassignAppRole(co.Admin, app, u, f[3])
		}
		if err != nil {
			return err
		}
		typ = wire.Entra
	case "delete":
		if err := need(2, "delete <nickname>"); err != nil {
			return err
		}
		u, err := userID(f[1])
		if err != nil {
			return err
		}
		if err := t.DeleteUser(co.Admin, u); err != nil {
			return err
		}
		typ = wire.Entra
	default:
		return fmt.Errorf("unknown command %q (help lists them)", f[0])
	}
	d.line(string(typ), "changed", line)
	d.runner.Trigger(typ, Tenant)
	return nil
}

// fields splits a command line on blanks, keeping "quoted parts" together.
func fields(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, any = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}
