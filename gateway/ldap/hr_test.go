package ldap

import (
	"context"
	"strings"
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"
	"gopkg.in/yaml.v3"

	"github.com/scim-stream/scim-stream/broker/brokertest"
	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/collector/hr"
	"github.com/scim-stream/scim-stream/internal/imitation/successfactors"
	"github.com/scim-stream/scim-stream/wire"
)

// TestHRToActiveDirectory is the whole chain: the SuccessFactors imitation → the documentation's HR tenant
// (mapper with onCreate.userPrincipalName and onCreate.sAMAccountName) → collector pipeline → broker → gateway
// subscriber → ldap endpoint with the Active Directory defaults over ldaps → slapd with AD's attribute names.
// A joiner appears with the mapped attributes; a leaver (end date passed) is disabled in userAccountControl.
func TestHRToActiveDirectory(t *testing.T) {
	s := startSlapd(t)
	env := brokertest.Start(t, "mycompany")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	company := successfactors.NewSampleCompany(6, time.Now)
	srv, tc := successfactors.DocsTenant(t, company, "../../testdata/config/hr-successfactors.yaml")
	// Group memberships come from a dynamic, as HR systems carry none: everyone is Staff, consultants are
	// Consultants too.
	if err := yaml.Unmarshal([]byte(`
- dynamic_id: dyn-staff
  rules: [{filter: (.*)}]
  assignments:
    user.groups: [{display: Staff, value: Staff}]
- dynamic_id: dyn-consultants
  rules: [{filter: (user.title -match ".*Consultant.*")}]
  assignments:
    user.groups: [{display: Consultants, value: Consultants}]
`), &tc.Dynamics); err != nil {
		t.Fatal(err)
	}
	tenant, err := collector.Compile("mycompany", wire.HR, tc)
	if err != nil {
		t.Fatal(err)
	}
	src, err := hr.New("mycompany", *tc, hr.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := collector.NewPipeline(ctx, env.Broker, "mycompany", wire.HR)
	if err != nil {
		t.Fatal(err)
	}

	// AD with userName = the HR employee id (employeeID); UPN and sAMAccountName come from onCreate.
	ad := adConfig(s, s.ldaps, "") + `timeout: 5s
`
	ad = replaceOnce(t, ad, "users: {base_dn: \"ou=people,"+suffix+"\", id_attribute: entryUUID}",
		"users: {base_dn: \"ou=people,"+suffix+"\", id_attribute: entryUUID, rdn: \"CN={name.formatted|userName}\",\n"+
			"  map: {userName: employeeID, externalId: \"\", userPrincipalName: userPrincipalName}}")
	ev := runGateway(t, env, "mycompany", wire.HR, "HR.SF", ad)

	stats, err := p.Collect(ctx, tenant, src, false)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Published == 0 {
		t.Fatalf("the collection published nothing: %v", stats)
	}
	waitFor(t, "every published message handled", func() bool { _, h := ev.get(); return h == stats.Published })

	ceo, _ := company.Person("1001")
	en := s.entry(t, "(employeeID=1001)", "*")
	for attr, want := range map[string]string{
		"givenName": ceo.FirstName, "sn": ceo.LastName, "title": "Chief Executive Officer",
		"userAccountControl": "512",
	} {
		if got := en.GetAttributeValue(attr); got != want {
			t.Errorf("CEO %s = %q, want %q", attr, got, want)
		}
	}
	if upn := en.GetAttributeValue("userPrincipalName"); upn == "" || en.GetAttributeValue("sAMAccountName") == "" {
		t.Errorf("CEO userPrincipalName %q, sAMAccountName %q: the onCreate values are missing", upn, en.GetAttributeValue("sAMAccountName"))
	}
	if want := "cn=" + ceo.FirstName + " " + ceo.LastName + ",ou=people," + suffix; normDN(en.DN) != normDN(want) {
		t.Errorf("CEO DN = %s, want %s", en.DN, want)
	}
	// Memberships: the current employees (1001-1005; 1006 starts in 14 days) are Staff, the consultant (1002,
	// Senior Consultant) is in Consultants too.
	consultant := s.entry(t, "(employeeID=1002)", "dn")
	if n := membersOf(t, s, "Staff"); n != 5 {
		t.Errorf("Staff has %d members, want 5", n)
	}
	if n := s.count(t, "(&(cn=Consultants)(member="+ldap.EscapeFilter(consultant.DN)+"))"); n != 1 || membersOf(t, s, "Consultants") != 1 {
		t.Errorf("Consultants: %d members, the consultant %s a member %d times", membersOf(t, s, "Consultants"), consultant.DN, n)
	}

	// A leaver: the end date has passed at the next collection.
	if err := company.SetEndDate("1003", time.Now().AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	_, before := ev.get()
	stats, err = p.Collect(ctx, tenant, src, false)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Published == 0 {
		t.Fatalf("the leaver was not published: %v", stats)
	}
	waitFor(t, "the leaver's message handled", func() bool { _, h := ev.get(); return h == before+stats.Published })
	if uac := s.entry(t, "(employeeID=1003)", "userAccountControl").GetAttributeValue("userAccountControl"); uac != "514" {
		t.Errorf("leaver userAccountControl = %s, want 514 (disabled)", uac)
	}
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %q", old, s)
	}
	return strings.Replace(s, old, new, 1)
}
