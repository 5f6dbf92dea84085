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
` + cfg + `: entra.t1.general.do_initial_load_filter: column 20: invalid regular expression "(": `
	if got := stdout.String(); !strings.HasPrefix(got, want) {
		t.Errorf("check printed:\n%s\nwant:\n%s…", got, want)
	}
}
