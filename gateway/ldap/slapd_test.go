package ldap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"
)

// slapd is a real OpenLDAP server started by a test on free loopback ports with a generated configuration:
// core, cosine, inetorgperson, the ppolicy overlay (pwdAccountLockedTime) and a test schema with Active
// Directory's attribute names (adtest.schema), TLS with a CA made by the test.
type slapd struct {
	dir        string
	url, ldaps string
	caFile     string
	cmd        *exec.Cmd
	exited     chan struct{}
}

const (
	suffix  = "dc=example,dc=com"
	adminDN = "cn=admin,dc=example,dc=com"
	adminPW = "admin-secret"
	// gatewayDN is a service account with the rights a gateway gets in production (not the root DN, which no
	// limit or ACL applies to); its TLS client certificate (client.pem) maps to it for SASL EXTERNAL.
	gatewayDN = "cn=gateway,dc=example,dc=com"
	gatewayPW = "gateway-secret"
)

// Distribution paths of schema files and modules (Debian first; CI installs the Debian packages slapd and
// ldap-utils).
var (
	schemaDirs = []string{"/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema"}
	moduleDirs = []string{"/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/libexec/openldap"}
)

func firstDir(t testing.TB, what string, dirs []string, probe string) string {
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, probe)); err == nil {
			return d
		}
	}
	t.Fatalf("OpenLDAP %s not found in %v: install the Debian packages slapd and ldap-utils (apt-get install -y slapd ldap-utils)", what, dirs)
	return ""
}

// startSlapd starts a fresh directory with dc=example,dc=com, ou=people and ou=groups. A missing slapd fails
// the test: the LDAP endpoint is only tested against the real server.
func startSlapd(t testing.TB) *slapd {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/slapd", "/usr/libexec/slapd"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		t.Fatalf("slapd is not installed: the LDAP endpoint tests need a real OpenLDAP server: apt-get install -y slapd ldap-utils")
	}
	schema := firstDir(t, "schema directory", schemaDirs, "inetorgperson.schema")
	modules := firstDir(t, "module directory", moduleDirs, "back_mdb.la")
	dir := t.TempDir()
	s := &slapd{dir: dir}
	s.caFile = writeCerts(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "adtest.schema"), []byte(adTestSchema), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`include %[1]s/core.schema
include %[1]s/cosine.schema
include %[1]s/inetorgperson.schema
include %[2]s/adtest.schema
modulepath %[3]s
moduleload back_mdb
moduleload ppolicy
pidfile %[2]s/slapd.pid
argsfile %[2]s/slapd.args
TLSCACertificateFile %[2]s/ca.pem
TLSVerifyClient try
authz-regexp "^cn=gateway-cert$" "%[7]s"
TLSCertificateFile %[2]s/server.pem
TLSCertificateKeyFile %[2]s/server.key
database mdb
maxsize 67108864
suffix "%[4]s"
rootdn "%[5]s"
rootpw %[6]s
directory %[2]s/db
index objectClass eq
index uid,cn,member,userPrincipalName,entryUUID eq
# The gateway's service account: a size limit of 5 without paging proves that listing pages.
limits dn.exact="%[7]s" size.soft=5 size.hard=5 size.pr=3 size.prtotal=unlimited
access to attrs=userPassword by dn.exact="%[7]s" write by anonymous auth by * none
access to * by dn.exact="%[7]s" manage by * read
overlay ppolicy
`, schema, dir, modules, suffix, adminDN, adminPW, gatewayDN)
	if err := os.WriteFile(filepath.Join(dir, "slapd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.url = "ldap://127.0.0.1:" + freePort(t)
	s.ldaps = "ldaps://127.0.0.1:" + freePort(t)
	s.bin(bin)
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	s.admin(t, func(c *ldap.Conn) {
		add := func(dn string, attrs map[string][]string) {
			req := ldap.NewAddRequest(dn, nil)
			for k, v := range attrs {
				req.Attribute(k, v)
			}
			if err := c.Add(req); err != nil {
				t.Fatalf("add %s: %v", dn, err)
			}
		}
		add(suffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
		add("ou=people,"+suffix, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}})
		add("ou=groups,"+suffix, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}})
		add(gatewayDN, map[string][]string{"objectClass": {"person"}, "cn": {"gateway"}, "sn": {"gateway"}, "userPassword": {gatewayPW}})
	})
	return s
}

var slapdBin string

func (s *slapd) bin(b string) { slapdBin = b }

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// start runs slapd in the foreground (-d 0) so that the test owns the process; it returns when the server
// accepts connections.
func (s *slapd) start(t testing.TB) {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(s.dir, "slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(slapdBin, "-f", filepath.Join(s.dir, "slapd.conf"), "-h", s.url+"/ "+s.ldaps+"/", "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); log.Close(); close(s.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := ldap.DialURL(s.url)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.exited:
			out, _ := os.ReadFile(filepath.Join(s.dir, "slapd.log"))
			t.Fatalf("slapd exited at start: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd does not accept connections on %s: %v", s.url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends slapd (SIGTERM, it flushes the database) and waits for it.
func (s *slapd) stop(t testing.TB) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// admin runs fn on a connection bound as the directory's root DN (to look at what the endpoint wrote).
func (s *slapd) admin(t testing.TB, fn func(c *ldap.Conn)) {
	t.Helper()
	c, err := ldap.DialURL(s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(adminDN, adminPW); err != nil {
		t.Fatal(err)
	}
	fn(c)
}

// entry reads one entry with the given attributes as the root DN.
func (s *slapd) entry(t testing.TB, filter string, attrs ...string) *ldap.Entry {
	t.Helper()
	var out *ldap.Entry
	s.admin(t, func(c *ldap.Conn) {
		res, err := c.Search(ldap.NewSearchRequest(suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
		if err != nil {
			t.Fatalf("search %s: %v", filter, err)
		}
		if len(res.Entries) != 1 {
			t.Fatalf("search %s: %d entries, want 1", filter, len(res.Entries))
		}
		out = res.Entries[0]
	})
	return out
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 and returns the CA file.
func writeCerts(t testing.TB, dir string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "scim-stream test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ckey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cli := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "gateway-cert"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	cliDER, err := x509.CreateCertificate(rand.Reader, cli, caCert, &ckey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ckeyDER, _ := x509.MarshalECPrivateKey(ckey)
	write("client.pem", "CERTIFICATE", cliDER)
	write("client.key", "EC PRIVATE KEY", ckeyDER)
	write("ca.pem", "CERTIFICATE", caDER)
	write("server.pem", "CERTIFICATE", srvDER)
	write("server.key", "EC PRIVATE KEY", keyDER)
	return filepath.Join(dir, "ca.pem")
}

// adTestSchema gives OpenLDAP the Active Directory attribute and class names the endpoint's AD defaults write,
// with AD's syntaxes (unicodePwd and objectGUID are octet strings, userAccountControl an integer), under
// OpenLDAP's experimental OID arc. It lets the AD mapping be checked at the protocol level: the values the
// endpoint sends are read back byte for byte.
var adTestSchema = strings.TrimSpace(`
attributetype ( 1.3.6.1.4.1.4203.666.11.1 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.2 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.3 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.4 NAME 'unicodePwd' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.5 NAME 'objectGUID' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.6 NAME 'department' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.7 NAME 'company' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.8 NAME 'employeeID' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.4203.666.11.9 NAME 'groupType' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.100 NAME 'user' SUP organizationalPerson STRUCTURAL
  MAY ( sAMAccountName $ userPrincipalName $ userAccountControl $ unicodePwd $ objectGUID $ displayName $ givenName $
        mail $ mobile $ employeeNumber $ employeeID $ department $ company $ preferredLanguage ) )
objectclass ( 1.3.6.1.4.1.4203.666.11.102 NAME 'computer' SUP user STRUCTURAL )
objectclass ( 1.3.6.1.4.1.4203.666.11.101 NAME 'group' SUP top STRUCTURAL MUST cn
  MAY ( member $ description $ sAMAccountName $ groupType $ objectGUID ) )
`) + "\n"
