package mapper

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// FuzzExpression compiles arbitrary sources and maps a record with the result: malformed expressions give
// errors, never panics, and a compiled expression maps without panicking. go test -fuzz FuzzExpression ./mapper
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		`GetUniqueValue(Normalize(Join(LowerCase(Replace([name.givenName]," ",".")),".",LowerCase(Replace([name.familyName]," ",".")),Increment("01",false),"@mycompany.com")))`,
		`GetUniqueValue(Normalize(Join(FirstN(LowerCase([name.familyName]),3),FirstN(LowerCase([name.givenName]),2),Increment("01",true))))`,
		`GetUniqueValue(Normalize(Join(LowerCase(Replace([name.givenName]," “,”.")),".",Increment(“01”,false))))`,
		`phoneNav.results.[{"isPrimary":true}].phoneNumber`,
		`employmentNav.results.[0].jobInfoNav.results.[0].managerId`,
		`ElementNumber(mail, "@", 2)`,
		`Join([name.givenName], " ", [name.familyName])`,
		`UpperCase(`, `[`, `a.[`, `"`, `Join(,)`, `FirstN(a, 99999999999999999999)`, `a[{}]`, `[name[type eq "x"].y]`,
	} {
		f.Add(s)
	}
	raw := map[string]any{
		"first": "Åsa", "last": "Öberg", "mail": "a@b", "n": 3.0,
		"phoneNav":      map[string]any{"results": []any{map[string]any{"isPrimary": true, "phoneNumber": "1"}}},
		"employmentNav": map[string]any{"results": []any{map[string]any{"startDate": "/Date(0)/", "jobInfoNav": map[string]any{"results": []any{map[string]any{"managerId": "m"}}}}}},
	}
	f.Fuzz(func(t *testing.T, src string) {
		m, err := Compile(wire.HR, config.Mapper{
			Rules: []config.Filter{{Filter: `(employmentNav.results -most_current "startDate")`}},
			User: []config.Mapping{
				{Source: "first", MapTo: "name.givenName"}, {Source: "last", MapTo: "name.familyName"},
				{Source: "mail", MapTo: "userName"}, {Source: "employmentNav.results.[0].startDate", MapTo: "startDate"},
				{Source: "employmentNav.results.[0].endDate", MapTo: "endDate"},
				{Source: src, MapTo: "title"},
				{Source: src, MapTo: "onCreate.x"},
			},
		})
		if err != nil {
			if m != nil {
				t.Fatal("a mapper and an error")
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = m.Map(ctx, raw, Options{New: true, Owner: "o", Unique: NewMemory()})
	})
}

// FuzzRecord maps arbitrary JSON records with the documentation's SuccessFactors mapping and the default Entra
// mapping: source data of any shape gives a user or an error, never a panic.
func FuzzRecord(f *testing.F) {
	for _, name := range []string{"sf-perperson.json", "graph-user.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"personalInfoNav": "John", "employmentNav": {"results": [1, "x", null, {"startDate": []}]}}`,
		`{"personalInfoNav": {"results": [{"firstName": {"a": 1}, "lastName": [1]}]}, "phoneNav": {"results": {"isPrimary": true}}}`,
		`{"employmentNav": {"results": [{"startDate": "/Date(99999999999999999999)/", "userNav": []}]}, "manager": "m"}`,
		`{"accountEnabled": "yes", "otherMails": [{"a": 1}], "businessPhones": [], "groups": "Admins", "manager": [null]}`,
	} {
		f.Add([]byte(s))
	}
	sf := compileSF(f)
	entra, err := Compile(wire.Entra, config.Mapper{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw map[string]any
		if json.Unmarshal(b, &raw) != nil {
			return
		}
		for _, m := range []*Mapper{sf, entra} {
			u, err := m.Map(context.Background(), raw, Options{New: true, Owner: "o", Unique: NewMemory(), Now: now})
			if err == nil {
				if _, err := json.Marshal(u); err != nil {
					t.Fatalf("mapped user is not JSON: %v", err)
				}
			}
		}
	})
}
