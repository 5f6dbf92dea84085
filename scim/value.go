package scim

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

// Normalize converts a Go value into the types encoding/json produces (string, float64, bool, nil, []any,
// map[string]any), so that values from YAML, typed Go structs or literals compare and diff like decoded JSON.
// Values already in that form are deep-copied. A value JSON cannot represent (NaN, channels, functions, maps with
// non-string keys that are not text) is an error naming the type.
func Normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return x, nil
	case bool:
		return x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("scim: %v is not a JSON number", x)
		}
		return x, nil
	case float32:
		return Normalize(float64(x))
	case int:
		return float64(x), nil
	case int8:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint:
		return float64(x), nil
	case uint8:
		return float64(x), nil
	case uint16:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("scim: number %q: %w", string(x), err)
		}
		return f, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := Normalize(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := Normalize(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = n
		}
		return out, nil
	case User:
		n, err := Normalize(map[string]any(x))
		return n, err
	case Group:
		n, err := Normalize(map[string]any(x))
		return n, err
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, s := range x {
			out[k] = s
		}
		return out, nil
	}
	return normalizeReflect(reflect.ValueOf(v))
}

// normalizeReflect handles the rest: typed slices and maps walk element by element (YAML decoders produce
// map[any]any), anything else goes through encoding/json, which knows struct tags and Marshaler.
func normalizeReflect(rv reflect.Value) (any, error) {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil, nil
		}
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			break // []byte is base64 text in JSON
		}
		out := make([]any, rv.Len())
		for i := range out {
			n, err := Normalize(rv.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = n
		}
		return out, nil
	case reflect.Map:
		if rv.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key()
			for k.Kind() == reflect.Interface && !k.IsNil() {
				k = k.Elem()
			}
			if k.Kind() != reflect.String {
				return nil, fmt.Errorf("scim: map key %v of type %s is not text; JSON objects have string keys", k, k.Type())
			}
			n, err := Normalize(it.Value().Interface())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.String(), err)
			}
			out[k.String()] = n
		}
		return out, nil
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return nil, fmt.Errorf("scim: a %s cannot be a SCIM value", rv.Type())
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return Normalize(rv.Float())
	}
	b, err := json.Marshal(rv.Interface())
	if err != nil {
		return nil, fmt.Errorf("scim: a %s cannot be a SCIM value: %w", rv.Type(), err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("scim: a %s cannot be a SCIM value: %w", rv.Type(), err)
	}
	return out, nil
}

// Clone returns a deep copy of the user: changing the copy never changes the original.
func (u User) Clone() User {
	if u == nil {
		return nil
	}
	return User(cloneMap(u))
}

// CloneValue deep-copies a JSON value (maps and slices are copied; scalars are immutable).
func CloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = CloneValue(e)
		}
		return out
	case User:
		return x.Clone()
	}
	return v
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = CloneValue(e)
	}
	return out
}

// Equal reports whether two values are the same JSON value. Numbers compare by value whatever their Go type;
// arrays compare as multisets, because SCIM multi-valued attributes have no order (RFC 7643 §2.4) and sources
// such as Graph return memberships in any order: a reordering is not a change.
func Equal(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	if !jsonType(a) || !jsonType(b) {
		na, err := Normalize(a)
		if err != nil {
			return false
		}
		nb, err := Normalize(b)
		if err != nil {
			return false
		}
		return Equal(na, nb)
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case map[string]any:
		return equalMap(x, asMap(b))
	case User:
		return equalMap(x, asMap(b))
	case Group:
		return equalMap(x, asMap(b))
	case []any:
		y, ok := b.([]any)
		return ok && equalMultiset(x, y)
	}
	return false
}

// jsonType reports whether v is one of the types Equal compares directly.
func jsonType(v any) bool {
	switch v.(type) {
	case nil, string, bool, float64, int, int64, float32, int32, json.Number, map[string]any, []any, User, Group:
		return true
	}
	return false
}

func asMap(v any) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return x
	case User:
		return x
	case Group:
		return x
	}
	return nil
}

func equalMap(a, b map[string]any) bool {
	if b == nil || len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !Equal(va, vb) {
			return false
		}
	}
	return true
}

func equalMultiset(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	// The common case is the same order: check it first without allocating.
	same := true
	for i := range a {
		if !Equal(a[i], b[i]) {
			same = false
			break
		}
	}
	if same {
		return true
	}
	used := make([]bool, len(b))
next:
	for _, ea := range a {
		for j, eb := range b {
			if !used[j] && Equal(ea, eb) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float32:
		return float64(x), true
	case int32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// lookupKey finds the key for an attribute name: exact spelling first, then case-insensitively, because SCIM
// attribute names are case-insensitive (RFC 7643 §2.1) while sources keep their own spelling.
func lookupKey(m map[string]any, name string) (string, bool) {
	if _, ok := m[name]; ok {
		return name, true
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return name, false
}
