package successfactors

import (
	"encoding/json"
	"strconv"
)

// Faults are the ways a real HR API has been seen to answer wrongly; a collector must neither deprovision people
// nor publish wrong values because of them. The zero value serves correctly.
type Faults struct {
	// CutAfterPages ends the paging chain after that many pages (no next link), while the count still announces
	// everyone (0: no cut).
	CutAfterPages int
	// CountDelta is added to the announced count (__count, @odata.count): a count that disagrees.
	CountDelta int
	// SingleRecord answers with one record and no next link (a response that holds a single record).
	SingleRecord bool
	// Duplicates adds, at the end of the listing, a record of person Of carrying the id ID: two records with
	// the same id.
	Duplicates []Duplicate
	// NumericIDs serves every all-digit personIdExternal (id in /api/people) as a JSON number.
	NumericIDs bool
	// BadIDs serves the id of these people as the given JSON value (null, true, an object); the value Missing
	// leaves the attribute out.
	BadIDs map[string]any
}

// Duplicate is a second record with the id of another person.
type Duplicate struct{ ID, Of string }

// Missing as a BadIDs value removes the id attribute.
const Missing = "\x00missing"

// SetFaults makes the server answer with f from now on (the zero Faults repairs it).
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

func (s *Server) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// idKey is the attribute holding the person id in a dialect's records.
func idKey(d Dialect) string {
	if d == Plain {
		return "id"
	}
	return "personIdExternal"
}

// faulty applies the id faults to the listing (a copy: the cache keeps the correct items).
func (f Faults) faulty(items [][]byte, d Dialect) [][]byte {
	if !f.NumericIDs && len(f.BadIDs) == 0 && len(f.Duplicates) == 0 {
		return items
	}
	key := idKey(d)
	out := make([][]byte, 0, len(items)+len(f.Duplicates))
	byID := map[string][]byte{}
	for _, it := range items {
		var m map[string]any
		if json.Unmarshal(it, &m) != nil {
			out = append(out, it)
			continue
		}
		id, _ := m[key].(string)
		byID[id] = it
		changed := false
		if v, ok := f.BadIDs[id]; ok {
			if v == Missing {
				delete(m, key)
			} else {
				m[key] = v
			}
			changed = true
		} else if f.NumericIDs {
			if n, err := strconv.ParseInt(id, 10, 64); err == nil {
				m[key] = n
				changed = true
			}
		}
		if changed {
			it, _ = json.Marshal(m)
		}
		out = append(out, it)
	}
	for _, dup := range f.Duplicates {
		var m map[string]any
		if json.Unmarshal(byID[dup.Of], &m) != nil {
			continue
		}
		m[key] = dup.ID
		b, _ := json.Marshal(m)
		out = append(out, b)
	}
	return out
}
