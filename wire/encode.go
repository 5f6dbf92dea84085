package wire

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scim-stream/scim-stream/scim"
)

// The collector encodes every user several times (the message body of each channel, the hashes of the message
// ids, the stored state). encoding/json spends most of that time in reflection on map[string]any; AppendJSON
// writes the JSON value types directly and produces exactly encoding/json's bytes (sorted keys, HTML-safe
// escaping, ES6 number format), so message ids and message bodies do not depend on which encoder made them.
// Values of other types are handed to encoding/json.

// AppendJSON appends the JSON encoding of v to dst, byte for byte what json.Marshal(v) gives.
func AppendJSON(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendJSONString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			break // encoding/json's error
		}
		return appendJSONFloat(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case map[string]any:
		return appendJSONObject(dst, x)
	case scim.User:
		return appendJSONObject(dst, x)
	case []any:
		if x == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = AppendJSON(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func appendJSONObject(dst []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	// Key and value are taken together: looking each value up again after sorting the keys cost as much as
	// the encoding.
	type member struct {
		k string
		v any
	}
	var small [32]member
	members := small[:0]
	for k, v := range m {
		members = append(members, member{k, v})
	}
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.k, b.k) })
	dst = append(dst, '{')
	for i, e := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, e.k)
		dst = append(dst, ':')
		var err error
		if dst, err = AppendJSON(dst, e.v); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendJSONFloat is encoding/json's float64 format: like %g with ES6 exponent cut-offs, exponents unpadded.
func appendJSONFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// jsonSafe are the ASCII bytes encoding/json writes as they are (HTML-safe: not <, > or &).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// AppendJSONString is encoding/json's string encoding with HTML escaping (its default).
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// messageLayout is the field list (JSON names, omitempty) AppendMessage writes for Message and scim.Operation.
// If either struct changes, AppendMessage falls back to encoding/json instead of silently writing an outdated
// envelope.
var messageLayout = func() bool {
	fields := func(v any) []string {
		t := reflect.TypeOf(v)
		var out []string
		for i := range t.NumField() {
			out = append(out, t.Field(i).Name+" "+string(t.Field(i).Type.String())+" "+t.Field(i).Tag.Get("json"))
		}
		return out
	}
	return slices.Equal(fields(Message{}), []string{
		"ActivityOperation string activityOperation",
		"ActivityDateTime string activityDateTime,omitempty",
		"InitiatedByID string initiatedById,omitempty",
		"InitiatedByUPN string initiatedByUpn,omitempty",
		"TargetID string targetId,omitempty",
		"TargetUPN string targetUpn,omitempty",
		"Operations []scim.Operation Operations",
		"User scim.User user",
	}) && slices.Equal(fields(scim.Operation{}), []string{
		"Op string op",
		"Value interface {} value,omitempty",
		"Path string path",
	})
}()

// AppendMessage appends json.Marshal(m), with user the already encoded m.User (nil: encode it here). It also
// returns where the user's encoding starts in the result: it ends one byte before the end.
func AppendMessage(dst []byte, m *Message, user []byte) ([]byte, int, error) {
	if !messageLayout {
		b, err := json.Marshal(m)
		if err != nil {
			return dst, 0, err
		}
		// The fallback encodes the user once more to find it.
		u, err := json.Marshal(m.User)
		return append(dst, b...), len(dst) + len(b) - 1 - len(u), err
	}
	dst = append(dst, `{"activityOperation":`...)
	dst = AppendJSONString(dst, m.ActivityOperation)
	for _, f := range []struct{ name, value string }{
		{`,"activityDateTime":`, m.ActivityDateTime},
		{`,"initiatedById":`, m.InitiatedByID},
		{`,"initiatedByUpn":`, m.InitiatedByUPN},
		{`,"targetId":`, m.TargetID},
		{`,"targetUpn":`, m.TargetUPN},
	} {
		if f.value != "" {
			dst = append(dst, f.name...)
			dst = AppendJSONString(dst, f.value)
		}
	}
	dst = append(dst, `,"Operations":`...)
	if m.Operations == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, op := range m.Operations {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"op":`...)
			dst = AppendJSONString(dst, op.Op)
			if op.Value != nil {
				dst = append(dst, `,"value":`...)
				var err error
				if dst, err = AppendJSON(dst, op.Value); err != nil {
					return dst, 0, err
				}
			}
			dst = append(dst, `,"path":`...)
			dst = AppendJSONString(dst, op.Path)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"user":`...)
	start := len(dst)
	if user != nil {
		dst = append(dst, user...)
	} else {
		var err error
		if dst, err = AppendJSON(dst, m.User); err != nil {
			return dst, 0, err
		}
	}
	return append(dst, '}'), start, nil
}
