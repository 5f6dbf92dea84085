package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func routeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func routeJSON(t *testing.T, args ...string) []routeResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := dispatch(append([]string{"route", "-json", "-config", "../../testdata/config/entra-example.yaml"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("route = %d: %s", code, stderr.String())
	}
	var out []routeResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("route -json output %q: %v", stdout.String(), err)
	}
	return out
}

const routeApp1 = `{"type":"App1","appId":"a12f063b-1c8b-40e0-9988-01b46f478349","display":"User","value":"User"}`

// TestRouteCommand: the documentation's example; a message file's top-level fields count, and a user losing their
// App1 role gets exactly one APP1 message with the remove operation.
func TestRouteCommand(t *testing.T) {
	before := routeFile(t, "before.json", `{"userName":"john","title":"Engineer",
		"groups":[{"display":"App3_x","value":"App3_x"},{"display":"Admins","value":"Admins"}],
		"roles":[{"type":"Application 1","display":"Employees","value":"Employees"},`+routeApp1+`]}`)
	after := routeFile(t, "after.json", `{"activityOperation":"modifyUser","initiatedByUpn":"admin@mycompany.com","user":{"userName":"john","title":"Engineer",
		"groups":[{"display":"App3_x","value":"App3_x"},{"display":"Admins","value":"Admins"}],
		"roles":[{"type":"Application 1","display":"Employees","value":"Employees"}]}}`)

	res := routeJSON(t, "-user", before)
	if len(res) != 5 || res[0].Subject != "ENTRA.APP1" || !res[0].Publish || res[0].Message.ActivityOperation != "createUser" {
		t.Fatalf("new user: %+v", res)
	}
	app3, _ := json.Marshal(res[2].Message.User)
	if want := `{"groups":[{"display":"App3_x","value":"App3_x"}],"roles":[{"display":"Employees","type":"Application 1","value":"Employees"}],"title":"Engineer","userName":"john"}`; string(app3) != want {
		t.Errorf("APP3 user = %s\nwant %s", app3, want)
	}
	if res[1].Publish || res[1].Message != nil || res[3].Publish {
		t.Errorf("APP2/APP4 publish: %+v %+v", res[1], res[3])
	}

	res = routeJSON(t, "-tenant", "mycompany", "-type", "entra", "-previous", before, "-user", after)
	app1 := res[0]
	if !app1.Publish || app1.Matched || !app1.PreviouslyMatched || app1.Message.ActivityOperation != "modifyUser" || app1.Message.InitiatedByUPN != "admin@mycompany.com" {
		t.Fatalf("APP1 scope exit: %+v", app1)
	}
	ops, _ := json.Marshal(app1.Message.Operations)
	if want := `[{"op":"remove","value":[` + routeApp1 + `],"path":"roles"}]`; !sameJSON(t, string(ops), want) {
		t.Errorf("APP1 operations = %s\nwant %s", ops, want)
	}
	if res[2].Publish || !res[2].Matched {
		t.Errorf("APP3 published although nothing it carries changed: %+v", res[2])
	}
	if !res[4].Publish {
		t.Errorf("APP5 does not get the role change: %+v", res[4])
	}
	res = routeJSON(t, "-previous", after, "-user", after)
	for _, r := range res {
		if r.Publish {
			t.Errorf("%s publishes an unchanged user", r.Subject)
		}
	}

	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"route", "-config", "../../testdata/config/entra-example.yaml", "-previous", before, "-user", after}, &stdout, &stderr); code != 0 {
		t.Fatalf("route = %d: %s", code, stderr.String())
	}
	for _, w := range []string{"ENTRA.APP1: publish modifyUser — left the channel's scope", "ENTRA.APP2: no message — no rule matches", "ENTRA.APP3: no message — in scope, but nothing"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("text output lacks %q:\n%s", w, stdout.String())
		}
	}
}

func sameJSON(t *testing.T, a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		t.Fatalf("not JSON: %s / %s", a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func TestRouteCommandErrors(t *testing.T) {
	cfg := "../../testdata/config/entra-example.yaml"
	user := routeFile(t, "u.json", `{"userName":"x"}`)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"route", "-config", cfg}, 2, "-user <file> is required"},
		{[]string{"route", "-config", cfg, "-user", user, "-tenant", "other"}, 1, `no entra or hr tenant "other"`},
		{[]string{"route", "-config", cfg, "-user", user, "-type", "gw"}, 1, `-type "gw": use entra or hr`},
		{[]string{"route", "-config", cfg, "-user", routeFile(t, "bad.json", `[1]`)}, 1, "not a JSON object"},
	} {
		var stdout, stderr bytes.Buffer
		if code := dispatch(c.args, &stdout, &stderr); code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v = %d %q, want %d containing %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}

// TestCheckReportsRules: check compiles stream rules, dynamics and do_initial_load_filter and names each problem
// by file, line, key and column.
func TestCheckReportsRules(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	body := `entra:
  t1:
    auth: {oauth: {clients: [{client_id: a, client_secret: bcd}]}}
    general:
      entra: {tenant_id: x.onmicrosoft.com}
      do_initial_load_filter: (user.title -match "(")
    streams:
      - channel: OK
        rules:
          - filter: (.*)
      - channel: BAD
        rules:
          - filter: (user.title -match "x")
          - filter: (user.title -matches "x")
    dynamics:
    - dynamic_id: d1
      rules:
      - filter: (user.groups.display -match "App1" -exclud)
      assignments:
        user.title: X
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"check", "-config", cfg}, &stdout, &stderr); code != 1 {
		t.Fatalf("check = %d; %s%s", code, stdout.String(), stderr.String())
	}
	want := cfg + `:14: entra.t1.streams[1].rules[1].filter (channel BAD): column 13: unknown operator -matches: use -match
` + cfg + `:18: entra.t1.dynamics[0].rules[0].filter: column 36: unknown flag -exclud: the only flag is -exclude
` + cfg + `:6: entra.t1.general.do_initial_load_filter: column 20: invalid regular expression "(": `
	if got := stdout.String(); !strings.HasPrefix(got, want) {
		t.Errorf("check printed:\n%s\nwant:\n%s…", got, want)
	}
}

// routeDynamicsConfig: the documentation's dynamic-1, a channel selecting it, the AD rule that keeps changes made
// by the Entra Connect Sync account away, and everything.
const routeDynamicsConfig = `entra:
  mycompany:
    auth: {oauth: {clients: [{client_id: a, client_secret: bcd}]}}
    general: {entra: {tenant_id: x.onmicrosoft.com}}
    streams:
      - channel: DYN
        rules:
          - filter: (user.dynamicIds -match "dynamic-1")
      - channel: AD
        rules:
          - filter: (user.groups.display -match "Grp.*") and (initiatedByUpn -match "(?!Sync_.*)")
      - channel: ALL
        rules:
          - filter: (.*)
    dynamics:
    - dynamic_id: dynamic-1
      rules:
      - filter: (user.title -match ".*Consultant.*")
      assignments:
        user.groups:
        - display: Grp1-name
          value: Grp1-id
        user.type: External
`

// TestRouteCommandDynamics: route applies dynamics before the rules; a rule on user.dynamicIds selects the user,
// and no message carries dynamicIds. A title change revokes the dynamic: DYN gets its scope exit.
func TestRouteCommandDynamics(t *testing.T) {
	cfg := routeFile(t, "config.yaml", routeDynamicsConfig)
	consultant := routeFile(t, "c.json", `{"userName":"john","title":"Consultant","groups":[{"display":"Employees","value":"Employees"}]}`)
	engineer := routeFile(t, "e.json", `{"initiatedByUpn":"admin@mycompany.com","user":{"userName":"john","title":"Engineer","groups":[{"display":"Employees","value":"Employees"}]}}`)
	run := func(args ...string) map[string]routeResult {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := dispatch(append([]string{"route", "-json", "-config", cfg}, args...), &stdout, &stderr); code != 0 {
			t.Fatalf("route = %d: %s", code, stderr.String())
		}
		var out []routeResult
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		m := map[string]routeResult{}
		for _, r := range out {
			m[r.Channel] = r
			if r.Message != nil && strings.Contains(stdout.String(), "dynamicIds") {
				t.Errorf("a message carries dynamicIds:\n%s", stdout.String())
			}
		}
		return m
	}
	res := run("-user", consultant)
	dyn := res["DYN"]
	if !dyn.Publish || dyn.Message.User["type"] != "External" {
		t.Fatalf("DYN = %+v", dyn)
	}
	if got, _ := json.Marshal(res["ALL"].Message.User["groups"]); string(got) != `[{"display":"Employees","value":"Employees"},{"display":"Grp1-name","value":"Grp1-id"}]` {
		t.Errorf("ALL groups = %s", got)
	}
	if ad := res["AD"]; !ad.Publish {
		t.Errorf("AD does not get the dynamic group: %+v", ad)
	}

	res = run("-previous", consultant, "-user", engineer)
	dyn = res["DYN"]
	if !dyn.Publish || dyn.Matched || !dyn.PreviouslyMatched {
		t.Fatalf("DYN after the title change = %+v", dyn)
	}
	ops, _ := json.Marshal(dyn.Message.Operations)
	for _, w := range []string{`{"op":"replace","value":"Engineer","path":"title"}`, `{"op":"remove","path":"type"}`} {
		if !strings.Contains(string(ops), w) {
			t.Errorf("DYN operations %s lack %s", ops, w)
		}
	}
	ops, _ = json.Marshal(res["AD"].Message.Operations)
	if want := `{"op":"remove","value":[{"display":"Grp1-name","value":"Grp1-id"}],"path":"groups"}`; !strings.Contains(string(ops), want) {
		t.Errorf("AD operations %s lack %s", ops, want)
	}
}

// TestRouteCommandMessageFields: a message file's initiatedByUpn is judged on this change only: the Sync account's
// change does not reach AD even though the previous user was in AD's scope; a deleteUser message routes the
// deletion to the channels the user was in.
func TestRouteCommandMessageFields(t *testing.T) {
	cfg := routeFile(t, "config.yaml", routeDynamicsConfig)
	before := routeFile(t, "b.json", `{"userName":"john","title":"Engineer","groups":[{"display":"Grp9","value":"Grp9"}]}`)
	bySync := routeFile(t, "s.json", `{"initiatedByUpn":"Sync_ADCONNECT01_3c2a@mycompany.onmicrosoft.com","user":{"userName":"john","title":"Engineer","groups":[]}}`)
	var stdout, stderr bytes.Buffer
	if code := dispatch([]string{"route", "-json", "-config", cfg, "-previous", before, "-user", bySync}, &stdout, &stderr); code != 0 {
		t.Fatalf("route = %d: %s", code, stderr.String())
	}
	var out []routeResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if ad := out[1]; ad.Channel != "AD" || ad.Publish || ad.PreviouslyMatched {
		t.Errorf("AD got the Sync account's change: %+v", ad)
	}
	if all := out[2]; !all.Publish || all.Message.InitiatedByUPN != "Sync_ADCONNECT01_3c2a@mycompany.onmicrosoft.com" {
		t.Errorf("ALL = %+v", all)
	}

	deleted := routeFile(t, "d.json", `{"activityOperation":"deleteUser","initiatedByUpn":"admin@mycompany.com","user":{"userName":"john","title":"Consultant"}}`)
	stdout.Reset()
	if code := dispatch([]string{"route", "-json", "-config", cfg, "-user", deleted}, &stdout, &stderr); code != 0 {
		t.Fatalf("route = %d: %s", code, stderr.String())
	}
	out = nil
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	for _, r := range out {
		if !r.Publish || r.Message.ActivityOperation != "deleteUser" || r.Message.User["userName"] != "john" || len(r.Message.Operations) != 0 {
			t.Errorf("%s on deletion = %+v", r.Channel, r)
		}
	}
	if got, _ := json.Marshal(out[1].Message.User["groups"]); string(got) != `[{"display":"Grp1-name","value":"Grp1-id"}]` {
		t.Errorf("AD deletion carries groups %s, want the dynamic group it had there", got)
	}
}
