package scim

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	type tagged struct {
		Name  string `json:"name"`
		Count int    `json:"count,omitempty"`
	}
	cases := []struct {
		name string
		in   any
		want string // JSON of the normalized value
	}{
		{"int", 3, `3`},
		{"uint8", uint8(7), `7`},
		{"float32", float32(1.5), `1.5`},
		{"json.Number", json.Number("12"), `12`},
		{"strings", []string{"a", "b"}, `["a","b"]`},
		{"yaml map", map[any]any{"a": []any{1, true}}, `{"a":[1,true]}`},
		{"string map", map[string]string{"k": "v"}, `{"k":"v"}`},
		{"typed slice of maps", []map[string]int{{"x": 1}}, `[{"x":1}]`},
		{"struct", tagged{Name: "n"}, `{"name":"n"}`},
		{"pointer", &tagged{Name: "p", Count: 2}, `{"count":2,"name":"p"}`},
		{"nil pointer", (*tagged)(nil), `null`},
		{"time", time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), `"2024-01-02T02:04:05Z"`},
		{"user", User{"userName": "u", "n": 1}, `{"n":1,"userName":"u"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Normalize(c.in)
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal([]byte(c.want), &want); err != nil {
				t.Fatal(err)
			}
			if !Equal(got, want) {
				t.Fatalf("got %#v, want %s", got, c.want)
			}
			switch got.(type) {
			case nil, string, float64, bool, []any, map[string]any:
			default:
				t.Fatalf("normalized to %T, not a JSON type", got)
			}
		})
	}
	for name, bad := range map[string]any{
		"NaN": math.NaN(), "chan": make(chan int), "func": func() {}, "int key": map[int]string{1: "a"},
		"nested": map[string]any{"a": []any{math.Inf(1)}},
	} {
		if _, err := Normalize(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCloneIsDeep(t *testing.T) {
	u := User{"name": map[string]any{"givenName": "A"}, "emails": []any{map[string]any{"type": "work", "value": "a@x"}}}
	c := u.Clone()
	c["name"].(map[string]any)["givenName"] = "B"
	c["emails"].([]any)[0].(map[string]any)["value"] = "b@x"
	if u["name"].(map[string]any)["givenName"] != "A" || u["emails"].([]any)[0].(map[string]any)["value"] != "a@x" {
		t.Fatalf("clone shares state with the original: %v", u)
	}
	if User(nil).Clone() != nil {
		t.Fatal("clone of nil user is not nil")
	}
}

func TestEqual(t *testing.T) {
	eq := []struct{ a, b any }{
		{1, 1.0},
		{json.Number("2"), 2},
		{[]any{"a", "b"}, []any{"b", "a"}},
		{[]any{"a", "a", "b"}, []any{"a", "b", "a"}},
		{map[string]any{"g": []any{map[string]any{"value": "1"}, map[string]any{"value": "2"}}}, map[string]any{"g": []any{map[string]any{"value": "2"}, map[string]any{"value": "1"}}}},
		{User{"a": 1}, map[string]any{"a": 1.0}},
		{[]string{"x"}, []any{"x"}},
		{nil, nil},
	}
	for _, c := range eq {
		if !Equal(c.a, c.b) || !Equal(c.b, c.a) {
			t.Errorf("Equal(%#v, %#v) = false", c.a, c.b)
		}
	}
	ne := []struct{ a, b any }{
		{1, "1"},
		{true, "true"},
		{[]any{"a", "a", "b"}, []any{"a", "b", "b"}},
		{map[string]any{"a": nil}, map[string]any{}},
		{map[string]any{"a": 1}, map[string]any{"a": 2}},
		{nil, false},
		{[]any{}, nil},
	}
	for _, c := range ne {
		if Equal(c.a, c.b) || Equal(c.b, c.a) {
			t.Errorf("Equal(%#v, %#v) = true", c.a, c.b)
		}
	}
}
