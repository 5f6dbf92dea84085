package collector

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/config"
)

func TestCheckConfig(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "testdata", "config", "hr-successfactors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	write := func(s string) *config.Config {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Check(p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if errs := CheckConfig(p, write(string(src))); len(errs) != 0 {
		t.Fatalf("the documentation's example: %v", errs)
	}
	bad := strings.Replace(string(src), `Join([name.givenName], " ", [name.familyName])`, `Join([name.givenName], " " [name.familyName])`, 1)
	bad = strings.Replace(bad, "employmentNav.results.[0].userNav.city:", "employmentNav.results.[x].userNav.city:", 1)
	errs := CheckConfig(p, write(bad))
	if len(errs) != 2 {
		t.Fatalf("got %d errors: %v", len(errs), errs)
	}
	line := func(needle string) int {
		for i, l := range strings.Split(bad, "\n") {
			if strings.Contains(l, needle) {
				return i + 1
			}
		}
		t.Fatalf("%s not in the file", needle)
		return 0
	}
	want := []string{
		p + ":" + strconv.Itoa(line(`" " [name.familyName]`)) + `: hr.mycompany.mapper.user: "Join([name.givenName], \" \" [name.familyName])" (map_to "name.formatted"): column 28: expected ',' or ')' in the arguments of Join, found "["`,
		p + ":" + strconv.Itoa(line(`[x].userNav.city`)) + `: hr.mycompany.mapper.user: "employmentNav.results.[x].userNav.city" (map_to "addresses[type eq \"work\"].city"): column 24: expected an index such as [0]`,
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("got  %s\nwant %s", errs[i], w)
		}
		if _, ok := errs[i].(*config.Error); !ok {
			t.Errorf("%T is not a *config.Error", errs[i])
		}
	}
}
