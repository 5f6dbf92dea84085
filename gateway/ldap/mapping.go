package ldap

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

// A template is literal text with {path|path…} placeholders: the first SCIM path with a value is used.
type template []tmplPart

type tmplPart struct {
	text  string
	paths []scim.Path // nil for literal text
}

func parseTemplate(s string) (template, error) {
	var t template
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t = append(t, tmplPart{text: s})
			break
		}
		if i > 0 {
			t = append(t, tmplPart{text: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%q: unclosed {", s)
		}
		var part tmplPart
		for _, p := range strings.Split(s[i+1:i+j], "|") {
			pp, err := scim.ParsePath(strings.TrimSpace(p))
			if err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			part.paths = append(part.paths, pp)
		}
		t = append(t, part)
		s = s[i+j+1:]
	}
	return t, nil
}

func mustTemplate(s string) template {
	t, err := parseTemplate(s)
	if err != nil {
		panic(err) // validated by Decode
	}
	return t
}

// render fills the template from u; escape is applied to substituted values (DN escaping for RDNs). It fails
// when a placeholder has no value.
func (t template) render(u scim.User, escape func(string) string) (string, error) {
	var b strings.Builder
	for _, p := range t {
		if p.paths == nil {
			b.WriteString(p.text)
			continue
		}
		v := ""
		for _, path := range p.paths {
			if x, ok := u.GetPath(path); ok {
				if s := scalar(x); s != "" {
					v = s
					break
				}
			}
		}
		if v == "" {
			names := make([]string, len(p.paths))
			for i, path := range p.paths {
				names[i] = path.String()
			}
			return "", fmt.Errorf("%s has no value", strings.Join(names, " or "))
		}
		b.WriteString(escape(v))
	}
	return b.String(), nil
}

func noEscape(s string) string { return s }

// scalar renders a SCIM scalar as an LDAP string value.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "TRUE"
		}
		return "FALSE"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	}
	return ""
}

// values renders a SCIM value (scalar or array of scalars) as LDAP values.
func values(v any) []string {
	if arr, ok := v.([]any); ok {
		var out []string
		for _, e := range arr {
			if s := scalar(e); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if s := scalar(v); s != "" {
		return []string{s}
	}
	return nil
}

// checkPaths validates a map's SCIM paths and refuses two of them on one LDAP attribute: reads could not tell
// which one a value belongs to.
func checkPaths(key string, m map[string]string) error {
	byAttr := map[string]string{}
	for _, p := range sortedKeys(m) {
		if _, err := scim.ParsePath(p); err != nil {
			return fmt.Errorf("%s: %q: %w", key, p, err)
		}
		a := strings.ToLower(m[p])
		if other, dup := byAttr[a]; dup {
			return fmt.Errorf("%s: %s and %s both map to %s: map one of them to \"\" (defaults count too)", key, other, p, m[p])
		}
		byAttr[a] = p
	}
	return nil
}

// attrMap is a compiled SCIM ↔ LDAP attribute map.
type attrMap struct {
	paths []scim.Path // sorted by SCIM path
	attrs []string
	fill  map[string]template // LDAP attribute (lower case) -> template
}

func compileMap(m map[string]string, fill map[string]string) attrMap {
	var am attrMap
	for _, k := range sortedKeys(m) {
		am.paths = append(am.paths, scim.MustParsePath(k))
		am.attrs = append(am.attrs, m[k])
	}
	am.fill = map[string]template{}
	for a, f := range fill {
		am.fill[strings.ToLower(a)] = mustTemplate(f)
	}
	return am
}

// attr returns the LDAP attribute a SCIM attribute maps to ("" when unmapped).
func (am attrMap) attr(scimPath string) string {
	for i, p := range am.paths {
		if strings.EqualFold(p.String(), scimPath) {
			return am.attrs[i]
		}
	}
	return ""
}

// Conversions by LDAP attribute name.
const (
	uacAttr      = "useraccountcontrol"
	uacDisabled  = 0x2   // ACCOUNTDISABLE
	uacNormal    = 0x200 // NORMAL_ACCOUNT
	lockAttr     = "pwdaccountlockedtime"
	lockForever  = "000001010000Z" // ppolicy: locked until an administrator unlocks
	unicodePwd   = "unicodepwd"
	objectGUID   = "objectguid"
	scimActive   = "active"
	scimPassword = "password"
)

// toLDAP computes the LDAP values of every mapped attribute from u (nil: no value). current is the entry
// being changed (nil on create): userAccountControl keeps its other flags.
func (am attrMap) toLDAP(u scim.User, current *ldap.Entry) (map[string][]string, error) {
	out := map[string][]string{}
	for i, p := range am.paths {
		attr := am.attrs[i]
		v, ok := u.GetPath(p)
		if !ok {
			out[attr] = nil
			continue
		}
		name := p.String()
		switch {
		case strings.EqualFold(name, scimActive):
			b, isBool := v.(bool)
			if !isBool {
				return nil, fmt.Errorf("active must be a boolean, not %T: %w", v, endpoint.ErrInvalid)
			}
			out[attr] = activeValues(attr, b, current)
		case strings.EqualFold(name, scimPassword):
			s, _ := v.(string)
			if s == "" {
				return nil, fmt.Errorf("password must be a non-empty string: %w", endpoint.ErrInvalid)
			}
			if strings.EqualFold(attr, unicodePwd) {
				s = adPassword(s)
			}
			out[attr] = []string{s}
		default:
			out[attr] = values(v)
		}
	}
	for a, t := range am.fill {
		attr := a
		for k := range out {
			if strings.EqualFold(k, a) {
				attr = k
			}
		}
		if len(out[attr]) > 0 {
			continue
		}
		s, err := t.render(u, noEscape)
		if err != nil {
			return nil, fmt.Errorf("%s (required by the directory): %v: %w", attr, err, endpoint.ErrInvalid)
		}
		out[attr] = []string{s}
	}
	return out, nil
}

func activeValues(attr string, active bool, current *ldap.Entry) []string {
	switch strings.ToLower(attr) {
	case uacAttr:
		flags := uacNormal
		if current != nil {
			if f, err := strconv.Atoi(current.GetAttributeValue(attr)); err == nil {
				flags = f
			}
		}
		if active {
			flags &^= uacDisabled
		} else {
			flags |= uacDisabled
		}
		return []string{strconv.Itoa(flags)}
	case lockAttr:
		if active {
			return nil
		}
		return []string{lockForever}
	}
	if active {
		return []string{"TRUE"}
	}
	return []string{"FALSE"}
}

// adPassword is AD's unicodePwd value: the password in double quotes, UTF-16LE encoded.
func adPassword(pw string) string {
	units := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return string(b)
}

// fromLDAP builds the SCIM attributes of an entry. Passwords are never read.
func (am attrMap) fromLDAP(e *ldap.Entry) scim.User {
	u := scim.User{}
	for i, p := range am.paths {
		attr := am.attrs[i]
		name := p.String()
		if strings.EqualFold(name, scimPassword) {
			continue
		}
		vals := e.GetAttributeValues(attr)
		if strings.EqualFold(name, scimActive) {
			u.SetPath(p, readActive(attr, vals))
			continue
		}
		switch len(vals) {
		case 0:
		case 1:
			u.SetPath(p, vals[0])
		default:
			arr := make([]any, len(vals))
			for j, v := range vals {
				arr[j] = v
			}
			u.SetPath(p, arr)
		}
	}
	// A value that only fills a required attribute is not the person's: sn = userName is no family name.
	for i, p := range am.paths {
		t, ok := am.fill[strings.ToLower(am.attrs[i])]
		if !ok {
			continue
		}
		got, has := u.GetPath(p)
		if !has {
			continue
		}
		without := u.Clone()
		without.DeletePath(p)
		if f, err := t.render(without, noEscape); err == nil && f == scalar(got) {
			u.DeletePath(p)
		}
	}
	return u
}

func readActive(attr string, vals []string) bool {
	switch strings.ToLower(attr) {
	case uacAttr:
		f, err := strconv.Atoi(firstOr(vals, "0"))
		return err != nil || f&uacDisabled == 0
	case lockAttr:
		return len(vals) == 0
	}
	return len(vals) == 0 || !strings.EqualFold(vals[0], "FALSE")
}

func firstOr(vals []string, def string) string {
	if len(vals) == 0 {
		return def
	}
	return vals[0]
}

// idValue reads the SCIM id from the id attribute; objectGUID is binary and shown in AD's string form.
func idValue(e *ldap.Entry, attr string) string {
	if strings.EqualFold(attr, objectGUID) {
		raw := e.GetRawAttributeValue(attr)
		if len(raw) != 16 {
			return ""
		}
		return guidString(raw)
	}
	return e.GetAttributeValue(attr)
}

// guidString formats a GUID as AD shows it: the first three fields are little-endian.
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%s-%s", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), hex.EncodeToString(b[8:10]), hex.EncodeToString(b[10:16]))
}

// idFilter is the equality filter for a SCIM id; objectGUID is matched on its bytes.
func idFilter(attr, id string) (string, error) {
	if !strings.EqualFold(attr, objectGUID) {
		return "(" + attr + "=" + ldap.EscapeFilter(id) + ")", nil
	}
	h := strings.ReplaceAll(id, "-", "")
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != 16 {
		return "", fmt.Errorf("id %q is not a GUID: %w", id, endpoint.ErrNotFound)
	}
	// Back to the wire order: the first three fields are little-endian.
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(b[8:], raw[8:])
	var f strings.Builder
	f.WriteString("(" + attr + "=")
	for _, c := range b {
		fmt.Fprintf(&f, "\\%02x", c)
	}
	f.WriteString(")")
	return f.String(), nil
}
