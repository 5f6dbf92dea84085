package mapper

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// plainRegistry hides Memory's Resumer: the mapper then walks every candidate from the first, which is the
// behaviour resuming must reproduce.
type plainRegistry struct{ m *Memory }

func (p plainRegistry) Reserve(ctx context.Context, attribute, value, owner string) (bool, error) {
	return p.m.Reserve(ctx, attribute, value, owner)
}

// countingMemory counts the candidates the mapper submits.
type countingMemory struct {
	*Memory
	mu sync.Mutex
	n  int
}

func (c *countingMemory) Reserve(ctx context.Context, attribute, value, owner string) (bool, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Memory.Reserve(ctx, attribute, value, owner)
}

func sfCreate(t *testing.T, m *Mapper, reg Uniqueness, owner, given, family string) (upn, sam string) {
	t.Helper()
	raw := readJSON(t, "sf-perperson.json")
	raw["personalInfoNav"] = map[string]any{"results": []any{map[string]any{"firstName": given, "lastName": family}}}
	u, err := m.Map(context.Background(), raw, Options{New: true, Owner: owner, Unique: reg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	oc := u["onCreate"].(map[string]any)
	return oc["userPrincipalName"].(string), oc["sAMAccountName"].(string)
}

// Resuming gives every owner exactly the value a walk from the first candidate gives, while submitting a
// bounded number of candidates per user instead of one per earlier namesake.
func TestResumeGivesTheSameValuesWithFewCandidates(t *testing.T) {
	m := compileSF(t)
	resuming := &countingMemory{Memory: NewMemory()}
	walking := plainRegistry{NewMemory()}
	const n = 400
	// Different people whose sAMAccountName candidates collide ("smijo"), as in a large company.
	given := []string{"John", "Johanna", "Jonas", "Joakim"}
	for i := range n {
		g, f := given[i%len(given)], fmt.Sprintf("Smith%c", 'a'+i/len(given)%26)
		u1, s1 := sfCreate(t, m, resuming, fmt.Sprint("p", i), g, f)
		u2, s2 := sfCreate(t, m, walking, fmt.Sprint("p", i), g, f)
		if u1 != u2 || s1 != s2 {
			t.Fatalf("person %d: resuming gave %s %s, walking %s %s", i, u1, s1, u2, s2)
		}
	}
	if _, s := sfCreate(t, m, resuming, "last", "Jo", "Smi"); s != fmt.Sprintf("smijo%02d", n+1) {
		t.Fatalf("the %d-th smijo got %s", n+1, s)
	}
	// Without resuming the walk submits about n²/2 candidates; with it, a few per person.
	if resuming.n > 3*(n+1) {
		t.Fatalf("%d candidates submitted for %d people", resuming.n, n+1)
	}
}

// An owner that already holds a value in the middle of a series (remapped as new after a crash lost its state)
// gets that value back: resuming must not skip past it and burn a new one.
func TestResumeNeverBurnsACandidateOfAHolder(t *testing.T) {
	m := compileSF(t)
	reg := NewMemory()
	var sams []string
	for i := range 30 {
		_, s := sfCreate(t, m, reg, fmt.Sprint("p", i), "John", "Smith")
		sams = append(sams, s)
	}
	for _, i := range []int{0, 7, 29} {
		if _, s := sfCreate(t, m, reg, fmt.Sprint("p", i), "John", "Smith"); s != sams[i] {
			t.Fatalf("p%d held %s and got %s on a remap", i, sams[i], s)
		}
	}
}

// Two mappings of one attribute whose series share the first candidate but differ later: the second is not
// skipped along the first's refusals.
func TestResumeChecksTheSeries(t *testing.T) {
	compile := func(expr string) *Mapper {
		m, err := Compile(wire.HR, config.Mapper{User: []config.Mapping{
			{Source: "id", MapTo: "userName"}, {Source: "s", MapTo: "startDate"}, {Source: "e", MapTo: "endDate"},
			{Source: expr, MapTo: "onCreate.mail"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	dotted := compile(`GetUniqueValue(Join("ab", Increment("01", false)))`)
	narrow := compile(`GetUniqueValue(Join("ab", Increment("1", false)))`)
	reg := NewMemory()
	mail := func(m *Mapper, owner string) any {
		u, err := m.Map(context.Background(), map[string]any{"id": owner}, Options{New: true, Owner: owner, Unique: reg})
		if err != nil {
			t.Fatal(err)
		}
		return u["onCreate"].(map[string]any)["mail"]
	}
	for i := range 6 {
		mail(dotted, fmt.Sprint("d", i)) // ab, ab01 … ab05
	}
	if got := mail(narrow, "n0"); got != "ab1" {
		t.Fatalf("the other series got %v, want ab1 (its first free candidate)", got)
	}
}
