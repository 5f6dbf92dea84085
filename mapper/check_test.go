package mapper

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// TestCheckConfigHRDates: an hr mapper without endDate fails at check time with file:line, naming the tenant's
// mapper (the configuration's validation finds it first), and Compile rejects it on its own for mappers that do not
// come through config.Check.
func TestCheckConfigHRDates(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "testdata", "config", "hr-successfactors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cut := strings.Replace(string(src), "        - employmentNav.results.[0].endDate:\n            map_to: endDate\n", "", 1)
	if cut == string(src) {
		t.Fatal("the example has no endDate mapping to remove")
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(cut), 0o600); err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(cut, "\n") {
		if strings.TrimSpace(l) == "user:" {
			line = i + 1
		}
	}
	_, err = config.Check(p)
	want := p + ":" + strconv.Itoa(line) + ": hr.mycompany.mapper.user: no entry maps to endDate: the hr mapper must set userName, startDate and endDate"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("config.Check: %v\nwant %s", err, want)
	}
	ms := []config.Mapping{{Source: "personIdExternal", MapTo: "userName", Line: 30}, {Source: "employmentNav.results.[0].startDate", MapTo: "startDate", Line: 35}}
	if _, err := Compile(wire.HR, config.Mapper{User: ms}); err == nil || !strings.Contains(err.Error(), `mapper.user "endDate": no mapping sets endDate`) {
		t.Errorf("Compile without endDate: %v", err)
	}
}
