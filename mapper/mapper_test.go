package mapper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/scim"
	"github.com/scim-stream/scim-stream/wire"
)

// now is the reference time of the golden tests: between the current employment's start (2020) and the
// future one's (2100).
var now = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

func readJSON(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func parseUser(t testing.TB, s string) scim.User {
	t.Helper()
	var u scim.User
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		t.Fatalf("expected user JSON: %v", err)
	}
	return u
}

// tenantMapper loads one tenant's mapper from a documentation example in testdata/config, offline.
func tenantMapper(t testing.TB, file string, kind wire.Type, tenant string) config.Mapper {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "testdata", "config", file))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, src, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Check(p)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	tenants := c.HR
	if kind == wire.Entra {
		tenants = c.Entra
	}
	tn, ok := tenants[tenant]
	if !ok {
		t.Fatalf("%s: no %s tenant %q", file, kind, tenant)
	}
	return tn.Mapper
}

func compileSF(t testing.TB) *Mapper {
	t.Helper()
	m, err := Compile(wire.HR, tenantMapper(t, "hr-successfactors.yaml", wire.HR, "mycompany"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func assertUser(t *testing.T, got scim.User, want string) {
	t.Helper()
	w := parseUser(t, want)
	if !scim.Equal(got, w) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("got %s\nwant %s\ndiff old=want new=got: %+v", g, want, scim.Diff(w, got))
	}
}

const sfJohn = `{
	"userName": "100123",
	"onCreate": {"userPrincipalName": "john.smith@mycompany.com", "sAMAccountName": "smijo01"},
	"startDate": "/Date(1577836800000)/",
	"endDate": "/Date(253402214400000)/",
	"name": {"givenName": "John", "familyName": "Smith", "formatted": "John Smith"},
	"phoneNumbers": [{"type": "mobile", "value": "555-555-6521"}],
	"addresses": [{"type": "work", "city": "Hollywood", "country": "USA", "state": "CA", "postalCode": "91608",
	               "streetAddress": "100 Universal City Plaza"}],
	"title": "Consultant",
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
		"manager": {"value": "barbara.jensen"}, "department": "Tour Operations", "division": "Studios"},
	"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
}`

// TestSuccessFactorsGolden applies the documentation's SuccessFactors mapping to a PerPerson record with a past,
// a future and a current employment (in that order): the current one is used, and a second John Smith gets the
// next unique values.
func TestSuccessFactorsGolden(t *testing.T) {
	m := compileSF(t)
	ctx := context.Background()
	reg := NewMemory()
	raw := readJSON(t, "sf-perperson.json")
	u, err := m.Map(ctx, raw, Options{New: true, Owner: "100123", Unique: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, u, sfJohn)

	// Mapping the same person again is stable: the owner keeps its values.
	again, err := m.Map(ctx, raw, Options{New: true, Owner: "100123", Unique: reg, Now: now})
	if err != nil || !scim.Equal(again, u) {
		t.Fatalf("second map of the same owner: %v\n%v", err, again)
	}

	// Not new: no onCreate, no reservation.
	upd, err := m.Map(ctx, raw, Options{Owner: "100123", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := upd["onCreate"]; ok {
		t.Fatalf("onCreate computed for an existing user: %v", upd["onCreate"])
	}

	// A second John Smith.
	raw2 := readJSON(t, "sf-perperson.json")
	raw2["personIdExternal"] = "100124"
	u2, err := m.Map(ctx, raw2, Options{New: true, Owner: "100124", Unique: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	oc := u2["onCreate"].(map[string]any)
	if oc["userPrincipalName"] != "john.smith01@mycompany.com" || oc["sAMAccountName"] != "smijo02" {
		t.Fatalf("second John Smith got %v", oc)
	}
	// The raw record is not changed by mapping, and the user does not share state with it.
	if !scim.Equal(raw, readJSON(t, "sf-perperson.json")) {
		t.Fatal("Map changed the raw record")
	}
}

func TestSuccessFactorsNames(t *testing.T) {
	m := compileSF(t)
	cases := []struct{ given, family, upn, sam string }{
		{"Åsa", "Ødegård", "asa.odegard@mycompany.com", "odeas01"},
		{"Mary Ann", "van der Berg", "mary.ann.van.der.berg@mycompany.com", "vanma01"},
		{"Jürgen", "Weiß", "jurgen.weiss@mycompany.com", "weiju01"},
		{"Æsa", "Łukasz", "aesa.lukasz@mycompany.com", "lukaes01"}, // FirstN before Normalize: æs → aes,
		{"Zoë", "Li", "zoe.li@mycompany.com", "lizo01"},
	}
	for i, c := range cases {
		raw := readJSON(t, "sf-perperson.json")
		raw["personalInfoNav"] = map[string]any{"results": []any{map[string]any{"firstName": c.given, "lastName": c.family}}}
		u, err := m.Map(context.Background(), raw, Options{New: true, Owner: fmt.Sprint(i), Unique: NewMemory(), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		oc := u["onCreate"].(map[string]any)
		if oc["userPrincipalName"] != c.upn || oc["sAMAccountName"] != c.sam {
			t.Errorf("%s %s: got %v, want %s %s", c.given, c.family, oc, c.upn, c.sam)
		}
		if got, _ := u.Get("name.formatted"); got != c.given+" "+c.family {
			t.Errorf("formatted %v", got)
		}
	}
}

// TestEntraDefaultGolden: the documentation's default Entra mapping applied to a Graph user gives the user of
// the documentation's message example (group and role memberships arrive as the collector resolved them).
func TestEntraDefaultGolden(t *testing.T) {
	m, err := Compile(wire.Entra, tenantMapper(t, "entra-example.yaml", wire.Entra, "mycompany"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := m.Map(context.Background(), readJSON(t, "graph-user.json"), Options{Owner: "da33c8bd", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, u, `{
      "active": true,
      "addresses": [{"type": "work", "region": "CA", "city": "Hollywood", "postalCode": "91608",
                     "streetAddress": "100 Universal City Plaza1", "country": "USA"}],
      "displayName": "John Smith",
      "emails": [{"type": "other", "value": "john.smith@example.org"}, {"type": "work", "value": "john.smith@mycompany.com"}],
      "externalId": "johns",
      "groups": [{"display": "Employees", "value": "Employees"}, {"display": "Admins", "value": "Admins"}],
      "name": {"givenName": "John", "familyName": "Smith", "formatted": "John Smith"},
      "phoneNumbers": [{"type": "mobile", "value": "555-555-6521"}, {"type": "work", "value": "555-555-1256"}],
      "roles": [{"type": "Application1", "display": "User", "value": "User"}],
      "title": "Consultant",
      "userName": "john.smith@mycompany.com",
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
          "organization": "Universal Studios",
          "employeeNumber": "991999",
          "manager": {"value": "barbara.jensen@mycompany.com", "displayName": "Barbara Jensen"},
          "department": "Tour Operations"
      },
      "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
	}`)
	g, err := m.MapGroup(context.Background(), map[string]any{"id": "g1", "displayName": "Employees"})
	if err != nil || g["displayName"] != "Employees" || len(g) != 1 {
		t.Fatalf("group: %v %v", g, err)
	}
	want := []string{"userPrincipalName", "accountEnabled", "displayName", "givenName", "surname", "mail", "otherMails",
		"businessPhones", "jobTitle", "preferredLanguage", "physicalDeliveryOfficeName", "streetAddress", "state", "city",
		"postalCode", "country", "mobilePhone", "faxNumber", "mailNickname", "employeeHireDate", "companyName", "employeeId",
		"employeeType", "department", "employeeOrgData.costCenter", "employeeOrgData.division", "manager.userPrincipalName",
		"manager.displayName"}
	if got := m.SourcePaths(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("SourcePaths\n got %v\nwant %v", got, want)
	}
}

func TestEntraTenantMappingsMerge(t *testing.T) {
	m, err := Compile(wire.Entra, config.Mapper{User: []config.Mapping{
		{Source: "mail", MapTo: "userName", Line: 10},
		{Source: "Join(LowerCase(jobTitle), \" (\", department, \")\")", MapTo: "title", Line: 11},
		{Source: "onPremisesSamAccountName", MapTo: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.sAMAccountName", Line: 12},
		{Source: "appRoles", MapTo: "roles", Line: 13}, // the same as the default: accepted
	}})
	if err != nil {
		t.Fatal(err)
	}
	raw := readJSON(t, "graph-user.json")
	raw["mail"] = "JS@mycompany.com"
	raw["onPremisesSamAccountName"] = "smijo"
	u, err := m.Map(context.Background(), raw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]any{
		"userName": "JS@mycompany.com",
		"title":    "consultant (Tour Operations)",
		scim.EnterpriseUserSchema + ":sAMAccountName": "smijo",
		`emails[type eq "work"].value`:                "JS@mycompany.com",
	} {
		if got, _ := u.Get(p); got != want {
			t.Errorf("%s = %v, want %v", p, got, want)
		}
	}
	if sp := m.SourcePaths(); sp[0] != "mail" || sp[len(sp)-1] != "onPremisesSamAccountName" {
		t.Errorf("SourcePaths: %v", sp)
	}
}

func TestOnCreateOnlyWhenNew(t *testing.T) {
	m, err := Compile(wire.HR, config.Mapper{User: []config.Mapping{
		{Source: "id", MapTo: "userName"}, {Source: "start", MapTo: "startDate"}, {Source: "end", MapTo: "endDate"},
		{Source: `GetUniqueValue(Join(LowerCase(id), "@x"))`, MapTo: "onCreate.userPrincipalName"},
		{Source: `Join("Welcome ", id)`, MapTo: "onCreate.password"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]any{"id": "E1", "start": "2024-01-01"}
	u, err := m.Map(context.Background(), raw, Options{New: true, Owner: "E1", Unique: NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, u, `{"userName": "E1", "startDate": "2024-01-01", "onCreate": {"userPrincipalName": "e1@x", "password": "Welcome E1"},
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}`)
	// Not new: nothing is reserved, so no registry is needed.
	u, err = m.Map(context.Background(), raw, Options{Owner: "E1"})
	if err != nil {
		t.Fatal(err)
	}
	assertUser(t, u, `{"userName": "E1", "startDate": "2024-01-01", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}`)
	// New without a registry or owner: a clear error, not a panic.
	if _, err := m.Map(context.Background(), raw, Options{New: true, Owner: "E1"}); err == nil || !strings.Contains(err.Error(), "Options.Unique") {
		t.Fatalf("no registry: %v", err)
	}
	if _, err := m.Map(context.Background(), raw, Options{New: true, Unique: NewMemory()}); err == nil || !strings.Contains(err.Error(), "Owner") {
		t.Fatalf("no owner: %v", err)
	}
}

func TestConcurrentUniqueValues(t *testing.T) {
	m := compileSF(t)
	reg := NewMemory()
	raw := readJSON(t, "sf-perperson.json")
	const n = 1000
	upns := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := m.Map(context.Background(), raw, Options{New: true, Owner: fmt.Sprint("p", i), Unique: reg, Now: now})
			if err != nil {
				errs <- err
				return
			}
			upns[i] = u["onCreate"].(map[string]any)["userPrincipalName"].(string)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, u := range upns {
		if seen[u] {
			t.Fatalf("UPN %s given twice", u)
		}
		seen[u] = true
	}
	if !seen["john.smith@mycompany.com"] || !seen["john.smith01@mycompany.com"] || !seen[fmt.Sprintf("john.smith%d@mycompany.com", n-1)] {
		t.Fatal("candidates are not john.smith, john.smith01, … john.smith999")
	}
}

func TestGetUniqueValueWithoutIncrement(t *testing.T) {
	m, err := Compile(wire.HR, config.Mapper{User: []config.Mapping{
		{Source: "id", MapTo: "userName"}, {Source: "s", MapTo: "startDate"}, {Source: "e", MapTo: "endDate"},
		{Source: `GetUniqueValue(LowerCase(mail))`, MapTo: "onCreate.mail"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	reg := NewMemory()
	raw := map[string]any{"id": "1", "mail": "A@x"}
	if _, err := m.Map(context.Background(), raw, Options{New: true, Owner: "1", Unique: reg}); err != nil {
		t.Fatal(err)
	}
	_, err = m.Map(context.Background(), raw, Options{New: true, Owner: "2", Unique: reg})
	if !errors.Is(err, ErrNoUniqueValue) || !strings.Contains(err.Error(), `"a@x"`) || !strings.Contains(err.Error(), "Increment") {
		t.Fatalf("taken value without Increment: %v", err)
	}
}
