package ldap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
	"github.com/scim-stream/scim-stream/scim"
)

func tctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// serviceConfig binds as the gateway's service account (size limit 5 without paging).
func serviceConfig(s *slapd, extra string) string {
	return `type: ldap
urls: [` + s.url + `]
bind: {dn: "` + gatewayDN + `", password: ` + gatewayPW + `}
page_size: 3
users: {base_dn: "ou=people,` + suffix + `"` + extra + `}
groups: {base_dn: "ou=groups,` + suffix + `"}
`
}

func TestOpenLDAPAttributesWrittenAndPagedListing(t *testing.T) {
	s := startSlapd(t)
	ep := openYAML(t, serviceConfig(s, ""))
	defer ep.Close()
	u, err := ep.CreateUser(tctx(t), scim.User{
		"userName": "kari@example.com", "displayName": "Kari Nordmann", "active": false, "password": "Pa55w0rd!",
		"name":     map[string]any{"givenName": "Kari", "familyName": "Nordmann"},
		"emails":   []any{map[string]any{"type": "work", "value": "kari.nordmann@example.com"}},
		enterprise: map[string]any{"department": "Sales"},
	})
	if err != nil {
		t.Fatal(err)
	}
	en := s.entry(t, "(uid=kari@example.com)", "*", "pwdAccountLockedTime", "entryUUID")
	for attr, want := range map[string]string{
		"uid": "kari@example.com", "cn": "Kari Nordmann", "sn": "Nordmann", "givenName": "Kari", "displayName": "Kari Nordmann",
		"mail": "kari.nordmann@example.com", "departmentNumber": "Sales", "pwdAccountLockedTime": lockForever,
		"entryUUID": u["id"].(string),
	} {
		if got := en.GetAttributeValue(attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	if en.DN != "uid=kari@example.com,ou=people,"+suffix {
		t.Errorf("DN = %s", en.DN)
	}
	if _, ok := u["password"]; ok {
		t.Error("the password is read back")
	}
	// The password went through the Password Modify operation: slapd stored a hash, and it binds.
	hash := en.GetAttributeValue("userPassword")
	if !strings.HasPrefix(hash, "{SSHA}") {
		t.Errorf("userPassword = %q, want a {SSHA} hash made by slapd", hash)
	}
	uc, err := ldap.DialURL(s.url)
	if err != nil {
		t.Fatal(err)
	}
	if err := uc.Bind(en.DN, "Pa55w0rd!"); err != nil {
		t.Errorf("bind as the new user with its password: %v", err)
	}
	uc.Close()
	got, err := ep.ModifyUser(tctx(t), u["id"].(string), scim.User{"active": true})
	if err != nil || got["active"] != true {
		t.Fatalf("ModifyUser active true: %v %v", got["active"], err)
	}
	if v := s.entry(t, "(uid=kari@example.com)", "pwdAccountLockedTime").GetAttributeValue("pwdAccountLockedTime"); v != "" {
		t.Errorf("pwdAccountLockedTime = %q after active true, want none", v)
	}
	if v := s.entry(t, "(uid=kari@example.com)", "userPassword").GetAttributeValue("userPassword"); v != hash {
		t.Errorf("a modify without password changed userPassword to %q", v)
	}

	// sn is required by inetOrgPerson: without a family name it is filled with the userName, which does not
	// read back as a family name.
	nofam, err := ep.CreateUser(tctx(t), scim.User{"userName": "nofamily@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if sn := s.entry(t, "(uid=nofamily@example.com)", "sn").GetAttributeValue("sn"); sn != "nofamily@example.com" {
		t.Errorf("sn = %q, want the userName", sn)
	}
	if nofam["name"] != nil {
		t.Errorf("name = %v, want none", nofam["name"])
	}

	for i := range 6 {
		if _, err := ep.CreateUser(tctx(t), scim.User{"userName": fmt.Sprintf("page%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The service account may read 5 entries per search without paging …
	c, err := ldap.DialURL(s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(gatewayDN, gatewayPW); err != nil {
		t.Fatal(err)
	}
	_, err = c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=inetOrgPerson)", []string{"uid"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Fatalf("unpaged search of 8 users as the service account: %v, want sizeLimitExceeded", err)
	}
	// … so listing all 8 proves the paged search.
	us, err := ep.ListUsers(tctx(t), "")
	if err != nil || len(us) != 8 {
		t.Fatalf("ListUsers = %d users, %v; want 8", len(us), err)
	}
}

func TestSchemaViolationsAreInvalid(t *testing.T) {
	s := startSlapd(t)
	// sAMAccountName exists in the schema but inetOrgPerson does not allow it; noSuchThing does not exist.
	ep := openYAML(t, serviceConfig(s, `, map: {nickName: sAMAccountName, profileUrl: noSuchThing}`))
	defer ep.Close()
	for _, u := range []scim.User{
		{"userName": "nick@example.com", "nickName": "nick"},
		{"userName": "url@example.com", "profileUrl": "https://example.com"},
	} {
		_, err := ep.CreateUser(tctx(t), u)
		if !errors.Is(err, endpoint.ErrInvalid) {
			t.Errorf("CreateUser %v: %v, want ErrInvalid", u, err)
		}
	}
	if _, err := ep.CreateUser(tctx(t), scim.User{"userName": "ok@example.com", "active": "yes"}); !errors.Is(err, endpoint.ErrInvalid) {
		t.Errorf("active as a string: %v, want ErrInvalid", err)
	}
}

func TestRenameAndMoveKeepGroupMemberships(t *testing.T) {
	s := startSlapd(t)
	s.admin(t, func(c *ldap.Conn) {
		for _, ou := range []string{"sales", "hr"} {
			req := ldap.NewAddRequest("ou="+ou+",ou=people,"+suffix, nil)
			req.Attribute("objectClass", []string{"organizationalUnit"})
			req.Attribute("ou", []string{ou})
			if err := c.Add(req); err != nil {
				t.Fatal(err)
			}
		}
	})
	ep := openYAML(t, serviceConfig(s, `, rdn: "uid={userName},ou={`+enterprise+`:department}"`))
	defer ep.Close()
	u, err := ep.CreateUser(tctx(t), scim.User{"userName": "mover@example.com", enterprise: map[string]any{"department": "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	id := u["id"].(string)
	g, err := ep.CreateGroup(tctx(t), scim.Group{"displayName": "Movers"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ep.AddMembers(tctx(t), g["id"].(string), id); err != nil {
		t.Fatal(err)
	}
	if dn := s.entry(t, "(uid=mover@example.com)").DN; dn != "uid=mover@example.com,ou=sales,ou=people,"+suffix {
		t.Fatalf("DN = %s", dn)
	}
	if _, err := ep.ModifyUser(tctx(t), id, scim.User{enterprise: map[string]any{"department": "hr"}}); err != nil {
		t.Fatalf("move to ou=hr: %v", err)
	}
	if _, err := ep.ModifyUser(tctx(t), id, scim.User{"userName": "moved@example.com"}); err != nil {
		t.Fatalf("rename: %v", err)
	}
	want := "uid=moved@example.com,ou=hr,ou=people," + suffix
	if dn := s.entry(t, "(entryUUID="+id+")").DN; dn != want {
		t.Fatalf("DN after move and rename = %s, want %s", dn, want)
	}
	members := s.entry(t, "(cn=Movers)", "member").GetAttributeValues("member")
	if len(members) != 2 || normDN(members[1]) != normDN(want) && normDN(members[0]) != normDN(want) {
		t.Errorf("group members = %q, want the placeholder and %s", members, want)
	}
	got, err := ep.GetGroup(tctx(t), g["id"].(string))
	if err != nil || len(got["members"].([]any)) != 1 || got["members"].([]any)[0].(map[string]any)["value"] != id {
		t.Fatalf("GetGroup after the move: %v %v", got["members"], err)
	}
	user, _ := ep.GetUser(tctx(t), id)
	if gs, _ := user["groups"].([]any); len(gs) != 1 {
		t.Errorf("user groups after the move = %v", user["groups"])
	}
	// The department has no container: the move fails permanently, not forever retried.
	_, err = ep.ModifyUser(tctx(t), id, scim.User{enterprise: map[string]any{"department": "nowhere"}})
	if !errors.Is(err, endpoint.ErrNotFound) && !errors.Is(err, endpoint.ErrInvalid) {
		t.Errorf("move to a missing container: %v", err)
	}
}

func TestDirectoryDownIsUnavailableAndRecoversAfterRestart(t *testing.T) {
	s := startSlapd(t)
	closed := "ldap://" + net.JoinHostPort("127.0.0.1", freePort(t))
	cfg := strings.Replace(serviceConfig(s, ""), "urls: ["+s.url+"]", "urls: ["+closed+", "+s.url+"]", 1)
	cfg += "timeout: 2s\n"
	ep := openYAML(t, cfg)
	defer ep.Close()
	u, err := ep.CreateUser(tctx(t), scim.User{"userName": "before@example.com"})
	if err != nil {
		t.Fatalf("with the first URL down (failover): %v", err)
	}
	s.stop(t)
	if _, err := ep.CreateUser(tctx(t), scim.User{"userName": "during@example.com"}); !errors.Is(err, endpoint.ErrUnavailable) {
		t.Fatalf("CreateUser with slapd stopped: %v, want ErrUnavailable", err)
	}
	if _, err := ep.GetUser(tctx(t), u["id"].(string)); !errors.Is(err, endpoint.ErrUnavailable) {
		t.Fatalf("GetUser with slapd stopped: %v, want ErrUnavailable", err)
	}
	s.start(t)
	if _, err := ep.CreateUser(tctx(t), scim.User{"userName": "during@example.com"}); err != nil {
		t.Fatalf("CreateUser after the restart: %v", err)
	}
	if got, err := ep.GetUser(tctx(t), u["id"].(string)); err != nil || got["userName"] != "before@example.com" {
		t.Fatalf("GetUser after the restart: %v %v", got, err)
	}
}

func utf16le(s string) string {
	units := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return string(b)
}

func adConfig(s *slapd, url, extra string) string {
	return `type: ldap
directory: active_directory
urls: [` + url + `]
tls: {ca: "` + s.caFile + `"}
bind: {dn: "` + gatewayDN + `", password: ` + gatewayPW + `}
users: {base_dn: "ou=people,` + suffix + `", id_attribute: entryUUID}
groups: {base_dn: "ou=groups,` + suffix + `"}
` + extra
}

// TestActiveDirectoryMapping checks the AD defaults at the protocol level against slapd with AD's attribute
// names: the values the endpoint sends (unicodePwd as quoted UTF-16LE, userAccountControl flags, names) are
// read back as stored. objectGUID is generated by AD; here it is written by the test.
func TestActiveDirectoryMapping(t *testing.T) {
	s := startSlapd(t)
	for _, tc := range []struct{ name, url, extra string }{
		{"ldaps", s.ldaps, ""},
		{"StartTLS", s.url, "start_tls: true\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := openYAML(t, adConfig(s, tc.url, tc.extra))
			defer ep.Close()
			local := strings.ToLower(tc.name)
			pw := "Pa55w0rd!ø" + tc.name
			u, err := ep.CreateUser(tctx(t), scim.User{
				"userName": local + "@example.com", "sAMAccountName": local, "displayName": "Bjørn Ødegård " + tc.name,
				"name":   map[string]any{"givenName": "Bjørn", "familyName": "Ødegård"},
				"active": true, "password": pw,
				"emails":   []any{map[string]any{"type": "work", "value": local + "@example.com"}},
				enterprise: map[string]any{"department": "IT", "employeeNumber": "4711"},
			})
			if err != nil {
				t.Fatal(err)
			}
			id := u["id"].(string)
			f := "(userPrincipalName=" + local + "@example.com)"
			en := s.entry(t, f, "*")
			if want := "cn=Bjørn Ødegård " + tc.name + ",ou=people," + suffix; normDN(en.DN) != normDN(want) {
				t.Errorf("DN = %s, want %s", en.DN, want)
			}
			for attr, want := range map[string]string{
				"sAMAccountName": local, "userPrincipalName": local + "@example.com", "userAccountControl": "512",
				"unicodePwd": utf16le(`"` + pw + `"`), "givenName": "Bjørn", "sn": "Ødegård", "mail": local + "@example.com",
				"department": "IT", "employeeNumber": "4711",
			} {
				if got := en.GetAttributeValue(attr); got != want {
					t.Errorf("%s = %q, want %q", attr, got, want)
				}
			}
			if oc := en.GetAttributeValues("objectClass"); !containsFold(oc, "user") {
				t.Errorf("objectClass = %v, want user", oc)
			}

			// userAccountControl keeps the flags it has (65536: password never expires) and toggles 2.
			s.admin(t, func(c *ldap.Conn) {
				mod := ldap.NewModifyRequest(en.DN, nil)
				mod.Replace("userAccountControl", []string{"66048"})
				if err := c.Modify(mod); err != nil {
					t.Fatal(err)
				}
			})
			got, err := ep.ModifyUser(tctx(t), id, scim.User{"active": false})
			if err != nil || got["active"] != false {
				t.Fatalf("ModifyUser active false: %v %v", got["active"], err)
			}
			if v := s.entry(t, f, "userAccountControl").GetAttributeValue("userAccountControl"); v != "66050" {
				t.Errorf("userAccountControl after active false = %s, want 66050", v)
			}
			if _, err := ep.ModifyUser(tctx(t), id, scim.User{"active": true}); err != nil {
				t.Fatal(err)
			}
			if v := s.entry(t, f, "userAccountControl").GetAttributeValue("userAccountControl"); v != "66048" {
				t.Errorf("userAccountControl after active true = %s, want 66048", v)
			}
			// A replace without active leaves the account as it is.
			if _, err := ep.ReplaceUser(tctx(t), id, scim.User{"userName": local + "@example.com", "displayName": "Bjørn Renamed " + tc.name,
				"name": map[string]any{"familyName": "Ødegård"}}); err != nil {
				t.Fatalf("ReplaceUser: %v", err)
			}
			en = s.entry(t, f, "*")
			if v := en.GetAttributeValue("userAccountControl"); v != "66048" {
				t.Errorf("userAccountControl after a replace without active = %s, want 66048", v)
			}
			if want := "cn=Bjørn Renamed " + tc.name + ",ou=people," + suffix; normDN(en.DN) != normDN(want) {
				t.Errorf("DN after the displayName changed = %s, want %s", en.DN, want)
			}
			if en.GetAttributeValue("unicodePwd") == "" {
				t.Error("a replace without password removed unicodePwd")
			}

			g, err := ep.CreateGroup(tctx(t), scim.Group{"displayName": "Staff " + tc.name})
			if err != nil {
				t.Fatal(err)
			}
			ge := s.entry(t, "(cn=Staff "+tc.name+")", "*")
			if oc := ge.GetAttributeValues("objectClass"); !containsFold(oc, "group") || len(ge.GetAttributeValues("member")) != 0 {
				t.Errorf("group objectClass %v, members %q; want group without members (AD allows empty groups)", oc, ge.GetAttributeValues("member"))
			}
			if err := ep.AddMembers(tctx(t), g["id"].(string), id); err != nil {
				t.Fatal(err)
			}
			if m := s.entry(t, "(cn=Staff "+tc.name+")", "member").GetAttributeValues("member"); len(m) != 1 || normDN(m[0]) != normDN(en.DN) {
				t.Errorf("member = %q, want %s", m, en.DN)
			}
			if err := ep.RemoveMembers(tctx(t), g["id"].(string), id); err != nil {
				t.Fatal(err)
			}
			if m := s.entry(t, "(cn=Staff "+tc.name+")", "member").GetAttributeValues("member"); len(m) != 0 {
				t.Errorf("member after removal = %q, want none", m)
			}

			// objectGUID (AD's id): 16 bytes, shown with the first three fields little-endian.
			guid := []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, byte(len(tc.name))}
			s.admin(t, func(c *ldap.Conn) {
				mod := ldap.NewModifyRequest(en.DN, nil)
				mod.Replace("objectGUID", []string{string(guid)})
				if err := c.Modify(mod); err != nil {
					t.Fatal(err)
				}
			})
			def := openYAML(t, strings.Replace(adConfig(s, tc.url, tc.extra), ", id_attribute: entryUUID", "", 1))
			defer def.Close()
			found, err := def.FindUser(tctx(t), local+"@example.com")
			want := fmt.Sprintf("04030201-0605-0807-090a-0b0c0d0e0f%02x", len(tc.name))
			if err != nil || found["id"] != want {
				t.Fatalf("FindUser with id_attribute objectGUID: id %v, %v; want %s", found["id"], err, want)
			}
			if got, err := def.GetUser(tctx(t), want); err != nil || got["userName"] != local+"@example.com" {
				t.Fatalf("GetUser by objectGUID: %v %v", got, err)
			}
			if _, err := def.GetUser(tctx(t), "not-a-guid"); !errors.Is(err, endpoint.ErrNotFound) {
				t.Errorf("GetUser of a malformed GUID: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestActiveDirectoryPasswordNeedsTLS(t *testing.T) {
	var n yamlNode
	n.parse(t, `type: ldap
directory: active_directory
urls: [ldap://dc.example.com]
bind: {dn: x, password: y}
users: {base_dn: "ou=people"}
groups: {base_dn: "ou=groups"}
`)
	_, err := OpenConfig(context.Background(), n.root, endpoint.Env{})
	if err == nil || !strings.Contains(err.Error(), "unicodePwd") || !strings.Contains(err.Error(), "start_tls") {
		t.Fatalf("AD over plain ldap:// with a password mapping: %v, want an error naming unicodePwd and start_tls", err)
	}
}

// TestSASLExternal binds with the TLS client certificate, which slapd maps to the service account.
func TestSASLExternal(t *testing.T) {
	s := startSlapd(t)
	ep := openYAML(t, `type: ldap
urls: [`+s.ldaps+`]
tls: {ca: "`+s.caFile+`", cert: "`+s.dir+`/client.pem", key: "`+s.dir+`/client.key"}
bind: {method: external}
users: {base_dn: "ou=people,`+suffix+`"}
groups: {base_dn: "ou=groups,`+suffix+`"}
`)
	defer ep.Close()
	if _, err := ep.CreateUser(tctx(t), scim.User{"userName": "ext@example.com"}); err != nil {
		t.Fatalf("CreateUser over SASL EXTERNAL: %v", err)
	}
	if by := s.entry(t, "(uid=ext@example.com)", "creatorsName").GetAttributeValue("creatorsName"); normDN(by) != normDN(gatewayDN) {
		t.Errorf("creatorsName = %q, want %s (the certificate's identity)", by, gatewayDN)
	}
}

func TestGUIDString(t *testing.T) {
	raw := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if got := guidString(raw); got != "03020100-0504-0706-0809-0a0b0c0d0e0f" {
		t.Errorf("guidString = %s", got)
	}
	f, err := idFilter("objectGUID", "03020100-0504-0706-0809-0a0b0c0d0e0f")
	if err != nil || f != `(objectGUID=\00\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f)` {
		t.Errorf("idFilter = %s %v", f, err)
	}
	if p := adPassword("ø"); p != "\x22\x00\xf8\x00\x22\x00" {
		t.Errorf("adPassword = %q", p)
	}
}

func containsFold(vals []string, s string) bool {
	for _, v := range vals {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
