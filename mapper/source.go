package mapper

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/scim-stream/scim-stream/scim"
)

// A source path addresses a value in the raw record: `manager.userPrincipalName`,
// `employmentNav.results.[0].startDate` (also `results[0]`), `phoneNav.results.[{"isPrimary":true}].phoneNumber`.
// A key applied to an array reads its first element; a key missing from an OData v2 collection object
// ({"results":[…]}) reads the collection's first element, so `personalInfoNav.firstName` works too.
type sourcePath struct {
	text  string
	steps []step
}

type stepKind uint8

const (
	stepKey stepKind = iota
	stepIndex
	stepMatch
	stepCurrent // the element chosen by a -most_current rule (written [0] under the rule's array)
)

type step struct {
	kind  stepKind
	key   string
	index int
	match map[string]any
	rule  int // stepCurrent: index of the rule
}

// parseSourcePath parses s; off is s's offset in the expression, for error positions.
func parseSourcePath(s string, off int) (*sourcePath, error) {
	sp := &sourcePath{text: s}
	i := 0
	for {
		if i >= len(s) {
			return nil, &syntaxError{off + i, "expected an attribute name after '.'"}
		}
		if s[i] == '[' {
			end := matchBracket(s, i)
			if end < 0 {
				return nil, &syntaxError{off + i, "'[' is not closed: expected ']'"}
			}
			inner := strings.TrimSpace(s[i+1 : end])
			switch {
			case inner != "" && strings.Trim(inner, "0123456789") == "":
				n, err := strconv.Atoi(inner)
				if err != nil {
					return nil, &syntaxError{off + i + 1, fmt.Sprintf("index %s is too large", inner)}
				}
				sp.steps = append(sp.steps, step{kind: stepIndex, index: n})
			case strings.HasPrefix(inner, "{"):
				var m map[string]any
				if err := json.Unmarshal([]byte(straightQuotes(inner)), &m); err != nil || len(m) == 0 {
					return nil, &syntaxError{off + i + 1, fmt.Sprintf(`expected an object selector such as [{"isPrimary":true}], found %s`, inner)}
				}
				sp.steps = append(sp.steps, step{kind: stepMatch, match: m})
			default:
				return nil, &syntaxError{off + i + 1, fmt.Sprintf(`expected an index such as [0] or an object selector such as [{"isPrimary":true}], found [%s]`, inner)}
			}
			i = end + 1
		} else {
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' {
				j++
			}
			name := strings.TrimSpace(s[i:j])
			if name == "" {
				return nil, &syntaxError{off + i, "expected an attribute name"}
			}
			sp.steps = append(sp.steps, step{kind: stepKey, key: name})
			i = j
		}
		if i == len(s) {
			return sp, nil
		}
		switch s[i] {
		case '.':
			i++
		case '[':
		default:
			return nil, &syntaxError{off + i, fmt.Sprintf("expected '.', '[' or the end of the path, found %q", s[i])}
		}
	}
}

// straightQuotes lets object selectors use the typographic quotes the documentation mixes in.
func straightQuotes(s string) string {
	return strings.NewReplacer("“", `"`, "”", `"`).Replace(s)
}

// matchBracket returns the index of the ']' closing the '[' at i, skipping quoted text and nested brackets.
func matchBracket(s string, i int) int {
	depth := 0
	inQuote := false
	for j := i; j < len(s); {
		r, n := decodeRune(s, j)
		switch {
		case inQuote:
			if isQuote(r) {
				inQuote = false
			}
		case isQuote(r):
			inQuote = true
		case r == '[' || r == '{':
			depth++
		case r == ']' || r == '}':
			depth--
			if depth == 0 {
				if r == ']' {
					return j
				}
				return -1
			}
		}
		j += n
	}
	return -1
}

// resolve reads the path from v. A missing value is nil with no error; a value of the wrong shape (a key into a
// string, an index into an object) is an error naming the step.
func (sp *sourcePath) resolve(c *evalCtx, v any) (any, error) {
	return resolveSteps(c, sp.steps, v, sp.text)
}

func resolveSteps(c *evalCtx, steps []step, cur any, text string) (any, error) {
	for si, st := range steps {
		if cur == nil {
			return nil, nil
		}
		if st.kind != stepKey {
			if m, ok := cur.(map[string]any); ok {
				if r, ok := m["results"].([]any); ok {
					cur = r // an OData collection object stands for its results
				}
			}
		}
		switch st.kind {
		case stepKey:
			for {
				if a, ok := cur.([]any); ok {
					if len(a) == 0 {
						return nil, nil
					}
					cur = a[0]
					continue
				}
				break
			}
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("source %q: %s is a %s, not an object", text, stepsText(steps[:si]), kindOf(cur))
			}
			v, ok := m[st.key]
			if !ok {
				if r, isColl := m["results"].([]any); isColl {
					if len(r) == 0 {
						return nil, nil
					}
					if rm, ok := r[0].(map[string]any); ok {
						v = rm[st.key]
					}
				}
			}
			cur = v
		case stepIndex, stepMatch, stepCurrent:
			a, ok := cur.([]any)
			if !ok {
				return nil, fmt.Errorf("source %q: %s is a %s, not an array", text, stepsText(steps[:si]), kindOf(cur))
			}
			switch st.kind {
			case stepIndex:
				if st.index >= len(a) {
					return nil, nil
				}
				cur = a[st.index]
			case stepMatch:
				cur = nil
				for _, e := range a {
					if matchObject(e, st.match) {
						cur = e
						break
					}
				}
			case stepCurrent:
				cur = c.current(st.rule, a)
			}
		}
	}
	return cur, nil
}

// matchObject: every selector key equals the element's value; a string "true" matches a boolean true, since
// OData sources are not consistent about it.
func matchObject(e any, sel map[string]any) bool {
	m, ok := e.(map[string]any)
	if !ok {
		return false
	}
	for k, want := range sel {
		got, ok := m[k]
		if !ok {
			return false
		}
		if !scim.Equal(got, want) && text(got) != text(want) {
			return false
		}
	}
	return true
}

func stepsText(steps []step) string {
	if len(steps) == 0 {
		return "the record"
	}
	var b strings.Builder
	for i, s := range steps {
		switch s.kind {
		case stepKey:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		case stepIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case stepCurrent:
			b.WriteString("[0]")
		case stepMatch:
			j, _ := json.Marshal(s.match)
			fmt.Fprintf(&b, "[%s]", j)
		}
	}
	return b.String()
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
