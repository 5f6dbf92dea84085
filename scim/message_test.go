package scim

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkDiff diffs the documentation's message user against a copy with a group added and the title changed,
// interleaved in every iteration with json.Marshal of the same user (the publisher marshals every user anyway), and
// reports diff/marshal and diffs per second: the ratio stays meaningful on a shared, noisy machine.
func BenchmarkDiff(b *testing.B) {
	old := jsonUser(b, `{"active": true, "displayName": "John Smith", "externalId": "johns", "title": "Consultant",
		"userName": "john.smith@mycompany.com",
		"addresses": [{"type": "work", "region": "CA", "city": "Hollywood", "postalCode": "91608", "streetAddress": "100 Universal City Plaza1", "country": "USA"}],
		"emails": [{"type": "other", "value": "john.smith@example.org"}, {"type": "work", "value": "john.smith@mycompany.com"}],
		"groups": [{"display": "Employees", "value": "Employees"}, {"display": "Admins", "value": "Admins"}],
		"name": {"givenName": "John", "familyName": "Smith", "formatted": "John Smith"},
		"phoneNumbers": [{"type": "mobile", "value": "555-555-6521"}, {"type": "work", "value": "555-555-1256"}],
		"roles": [{"type": "Application1", "display": "User", "value": "User"}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"organization": "Universal Studios", "employeeNumber": "991999",
			"manager": {"value": "barbara.jensen@mycompany.com", "displayName": "Barbara Jensen"}, "department": "Tour Operations"},
		"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]}`)
	new := old.Clone()
	new["title"] = "Manager"
	new["groups"] = append(new["groups"].([]any), map[string]any{"display": "App1", "value": "App1"})
	b.ReportAllocs()
	var tDiff, tMarshal time.Duration
	cpu0 := processCPU()
	for b.Loop() {
		t0 := time.Now()
		if len(Diff(old, new)) != 2 {
			b.Fatal("expected 2 operations")
		}
		t1 := time.Now()
		if _, err := json.Marshal(new); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		tDiff += t1.Sub(t0)
		tMarshal += t2.Sub(t1)
	}
	b.ReportMetric(float64(tDiff)/float64(b.N), "diff-ns")
	b.ReportMetric(float64(tMarshal)/float64(b.N), "marshal-ns")
	b.ReportMetric(float64(tDiff)/float64(tMarshal), "diff/marshal")
	b.ReportMetric(float64(b.N)/tDiff.Seconds(), "diffs/s")
	if cpu := processCPU() - cpu0; cpu > 0 { // per core, whatever else runs on the machine
		b.ReportMetric(float64(b.N)/(cpu.Seconds()*float64(tDiff)/float64(tDiff+tMarshal)), "diffs/cpu-s")
	}
}
