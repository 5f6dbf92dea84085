package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// natsMaterial generates an operator, an account and a user with their JWTs and seeds (what bootstrap writes).
func natsMaterial(t *testing.T) (opJWT, opSeed, sysJWT, sysSeed, accJWT, accSeed, signSeed, userJWT, userSeed string) {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	os, _ := okp.Seed()
	skp, _ := nkeys.CreateAccount()
	spub, _ := skp.PublicKey()
	ss, _ := skp.Seed()
	oc := jwt.NewOperatorClaims(opub)
	oc.SystemAccount = spub
	var err error
	if opJWT, err = oc.Encode(okp); err != nil {
		t.Fatal(err)
	}
	if sysJWT, err = jwt.NewAccountClaims(spub).Encode(okp); err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	as, _ := akp.Seed()
	if accJWT, err = jwt.NewAccountClaims(apub).Encode(okp); err != nil {
		t.Fatal(err)
	}
	sign := seed(t, nkeys.CreateAccount)
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	us, _ := ukp.Seed()
	if userJWT, err = jwt.NewUserClaims(upub).Encode(akp); err != nil {
		t.Fatal(err)
	}
	return opJWT, string(os), sysJWT, string(ss), accJWT, string(as), sign, userJWT, string(us)
}

// TestEveryReferenceKey writes every key of the configuration reference ("Details" of the product documentation)
// with a value that is not its default, and checks that each one loads into its typed field: an unknown key would
// be reported by Check, and a key decoded into the wrong field would show here.
func TestEveryReferenceKey(t *testing.T) {
	opJWT, opSeed, sysJWT, sysSeed, accJWT, accSeed, signSeed, userJWT, userSeed := natsMaterial(t)
	body := fmt.Sprintf(`entra:
  mycompany:
    auth:
      oauth:
        clients:
          - client_id: app-1
            client_secret: secret-1
          - client_id: app-2
            client_secret: secret-2
    general:
      collect_interval: 30
      do_initial_load: true
      do_initial_load_filter: (user.title -match "Consultant")
      request_timeout: 60
      entra:
        tenant_id: mycompany.onmicrosoft.com
        include_guest_users: true
        skip_upn_startswith: [svc, adm]
        use_original_group_id: true
        attribution_wait: 120
    streams:
      - channel: AD.USER
        comment: all
        rules:
          - filter: (.*)
    dynamics:
      - comment: consultants
        dynamicId: dynamic-1
        rules:
          - filter: (user.title -match ".*Consultant.*")
        assignments:
          user.groups:
            - display: Grp1-name
              value: Grp1-id
          user.roles:
            - display: Admin access
              value: Admin
              type: App1
          user.name.givenName: X
    mapper:
      group:
        - displayName:
            map_to: displayName
      user:
        - jobTitle:
            map_to: title
hr:
  sf:
    auth:
      base_urls: [https://api2.successfactors.eu, https://api4.successfactors.eu]
      oauth:
        clients:
          - client_id: hr-app
            client_secret: hr-secret
      oauth_saml_assertion:
        audience: aud
        key_file: sf-key.pem
        cert_file: sf-cert.pem
        client_id: api-key
        company_id: SFCPART000123
        issuer: iss
        name_id: sfadmin
        token_url: https://api2.successfactors.eu/oauth/token
        user_identifier_format: email
        life_time: 600
      basic:
        username: api-user
        password: basic-password
      bearer_token:
        token: bearer-token
      header:
        X-Api-Key: header-value
    general:
      collect_interval: 15 2 * * 1-5
      do_initial_load: true
      request_timeout: 120
      hr:
        collect_query_string: /odata/v2/PerPerson
        collect_query_result_path: d.results
        pre_activate_days: 7
    streams:
      - channel: SF
        rules:
          - filter: (.*)
    mapper:
      rules:
        - filter: (employmentNav.results -most_current "startDate")
      user:
        - personIdExternal:
            map_to: userName
        - ? GetUniqueValue(Join([name.givenName],"@mycompany.com"))
          : map_to: onCreate.userPrincipalName
        - employmentNav.results.[0].startDate:
            map_to: startDate
        - employmentNav.results.[0].endDate:
            map_to: endDate
log:
  console: true
  level: debug
  max_age: 7
  max_backups: 3
  max_size: 20
email:
  smtp:
    host: smtp.office365.com
    port: 465
    username: sender@mycompany.com
    password: smtp-password
    proxy: http://proxy-host:1234
    proxy_username: proxy-user
    proxy_password: proxy-password
  on_error:
    enabled: true
    send_interval: 30
    subject: errors
    to: a@mycompany.com,b@mycompany.com
nats:
  server:
    port: 4222
    trace: true
    encryption_at_rest_key: at-rest-key
    use_external_server: true
    hosts: [scim-stream.mycompany.com]
    monitor_port: 8222
    certificate:
      certfile: server.crt
      keyfile: server.key
      cafile: server-ca.pem
    auth:
      operator:
        jwt: %s
        secret: %s
        sys_account_jwt: %s
        sys_account_secret: %s
      account:
        mycompany:
          entra:
            jwt: %s
            secret: %s
            signing:
              pub_secret: %s
              sub_entra_secret: %s
  publisher:
    mycompany:
      jwt: %s
      secret: %s
      urls: [nats://nats1.mycompany.com:4222, nats://nats2.mycompany.com:4222]
      max_age: 30
`, opJWT, opSeed, sysJWT, sysSeed, accJWT, accSeed, signSeed, signSeed, userJWT, userSeed)
	c, err := Check(writeConfig(t, body))
	if err != nil {
		t.Fatal(err)
	}
	e, h := c.Entra["mycompany"], c.HR["sf"]
	if e == nil || h == nil {
		t.Fatalf("tenants: %v %v", c.Entra, c.HR)
	}
	eg, hg, sa := e.General, h.General, h.Auth.OAuthSAMLAssertion
	acc := c.Nats.Server.Auth.Account["mycompany"].Entra
	pub := c.Nats.Publisher["mycompany"]
	for _, k := range []struct {
		key       string
		got, want any
	}{
		{"entra.T.auth.oauth.clients", len(e.Auth.OAuth.Clients), 2},
		{"entra.T.auth.oauth.clients[1].client_id", e.Auth.OAuth.Clients[1].ClientID, "app-2"},
		{"entra.T.auth.oauth.clients[1].client_secret", e.Auth.OAuth.Clients[1].ClientSecret.Reveal(), "secret-2"},
		{"entra.T.general.collect_interval", eg.CollectInterval.Seconds, 30},
		{"entra.T.general.do_initial_load", eg.DoInitialLoad, true},
		{"entra.T.general.do_initial_load_filter", eg.DoInitialLoadFilter, `(user.title -match "Consultant")`},
		{"entra.T.general.request_timeout", eg.RequestTimeout, 60},
		{"entra.T.general.entra.tenant_id", eg.Entra.TenantID, "mycompany.onmicrosoft.com"},
		{"entra.T.general.entra.include_guest_users", eg.Entra.IncludeGuestUsers, true},
		{"entra.T.general.entra.skip_upn_startswith", eg.Entra.SkipUPNStartsWith, []string{"svc", "adm"}},
		{"entra.T.general.entra.use_original_group_id", eg.Entra.UseOriginalGroupID, true},
		{"entra.T.general.entra.attribution_wait", eg.Entra.AttributionWait, 120},
		{"entra.T.streams[0].channel", e.Streams[0].Channel, "AD.USER"},
		{"entra.T.streams[0].comment", e.Streams[0].Comment, "all"},
		{"entra.T.streams[0].rules[0].filter", e.Streams[0].Rules[0].Filter, "(.*)"},
		{"entra.T.dynamics[0].comment", e.Dynamics[0].Comment, "consultants"},
		{"entra.T.dynamics[0].dynamicId", e.Dynamics[0].DynamicID, "dynamic-1"},
		{"entra.T.dynamics[0].rules[0].filter", e.Dynamics[0].Rules[0].Filter, `(user.title -match ".*Consultant.*")`},
		{"entra.T.dynamics[0].assignments", len(e.Dynamics[0].Assignments), 3},
		{"entra.T.dynamics[0].assignments.user.roles", e.Dynamics[0].Assignments[1].Value,
			[]any{map[string]any{"display": "Admin access", "value": "Admin", "type": "App1"}}},
		{"entra.T.dynamics[0].assignments.user.name.givenName", e.Dynamics[0].Assignments[2].Path, "user.name.givenName"},
		{"entra.T.mapper.group", e.Mapper.Group, []Mapping{{Source: "displayName", MapTo: "displayName", Line: 42}}},
		{"entra.T.mapper.user", e.Mapper.User, []Mapping{{Source: "jobTitle", MapTo: "title", Line: 45}}},
		{"hr.T.auth.base_urls", h.Auth.BaseURLs, []string{"https://api2.successfactors.eu", "https://api4.successfactors.eu"}},
		{"hr.T.auth.oauth.clients[0].client_secret", h.Auth.OAuth.Clients[0].ClientSecret.Reveal(), "hr-secret"},
		{"hr.T.auth.oauth_saml_assertion.audience", sa.Audience, "aud"},
		{"hr.T.auth.oauth_saml_assertion.key_file", sa.KeyFile, "sf-key.pem"},
		{"hr.T.auth.oauth_saml_assertion.cert_file", sa.CertFile, "sf-cert.pem"},
		{"hr.T.auth.oauth_saml_assertion.client_id", sa.ClientID, "api-key"},
		{"hr.T.auth.oauth_saml_assertion.company_id", sa.CompanyID, "SFCPART000123"},
		{"hr.T.auth.oauth_saml_assertion.issuer", sa.Issuer, "iss"},
		{"hr.T.auth.oauth_saml_assertion.name_id", sa.NameID, "sfadmin"},
		{"hr.T.auth.oauth_saml_assertion.token_url", sa.TokenURL, "https://api2.successfactors.eu/oauth/token"},
		{"hr.T.auth.oauth_saml_assertion.user_identifier_format", sa.UserIdentifierFormat, "email"},
		{"hr.T.auth.oauth_saml_assertion.life_time", sa.LifeTime, 600},
		{"hr.T.auth.basic.username", h.Auth.Basic.Username, "api-user"},
		{"hr.T.auth.basic.password", h.Auth.Basic.Password.Reveal(), "basic-password"},
		{"hr.T.auth.bearer_token.token", h.Auth.BearerToken.Token.Reveal(), "bearer-token"},
		{"hr.T.auth.header.xxx", h.Auth.Header, map[string]string{"X-Api-Key": "header-value"}},
		{"hr.T.general.collect_interval", hg.CollectInterval.Cron, "15 2 * * 1-5"},
		{"hr.T.general.do_initial_load", hg.DoInitialLoad, true},
		{"hr.T.general.request_timeout", hg.RequestTimeout, 120},
		{"hr.T.general.hr.collect_query_string", hg.HR.CollectQueryString, "/odata/v2/PerPerson"},
		{"hr.T.general.hr.collect_query_result_path", hg.HR.CollectQueryResultPath, "d.results"},
		{"hr.T.general.hr.pre_activate_days", hg.HR.PreActivateDays, 7},
		{"hr.T.mapper.rules[0].filter", h.Mapper.Rules[0].Filter, `(employmentNav.results -most_current "startDate")`},
		{"hr.T.mapper.user[1] (explicit ? form)", h.Mapper.User[1], Mapping{Source: `GetUniqueValue(Join([name.givenName],"@mycompany.com"))`, MapTo: "onCreate.userPrincipalName", Line: 91}},
		{"log.console", c.Log.Console, true},
		{"log.level", c.Log.Level, "debug"},
		{"log.max_age", c.Log.MaxAge, 7},
		{"log.max_backups", c.Log.MaxBackups, 3},
		{"log.max_size", c.Log.MaxSize, 20},
		{"email.smtp.host", c.Email.SMTP.Host, "smtp.office365.com"},
		{"email.smtp.port", c.Email.SMTP.Port, 465},
		{"email.smtp.username", c.Email.SMTP.Username, "sender@mycompany.com"},
		{"email.smtp.password", c.Email.SMTP.Password.Reveal(), "smtp-password"},
		{"email.smtp.proxy", c.Email.SMTP.Proxy, "http://proxy-host:1234"},
		{"email.smtp.proxy_username", c.Email.SMTP.ProxyUsername, "proxy-user"},
		{"email.smtp.proxy_password", c.Email.SMTP.ProxyPassword.Reveal(), "proxy-password"},
		{"email.on_error.enabled", c.Email.OnError.Enabled, true},
		{"email.on_error.send_interval", c.Email.OnError.SendInterval, 30},
		{"email.on_error.subject", c.Email.OnError.Subject, "errors"},
		{"email.on_error.to", []string(c.Email.OnError.To), []string{"a@mycompany.com", "b@mycompany.com"}},
		{"nats.server.port", c.Nats.Server.Port, 4222},
		{"nats.server.trace", c.Nats.Server.Trace, true},
		{"nats.server.encryption_at_rest_key", c.Nats.Server.EncryptionAtRestKey.Reveal(), "at-rest-key"},
		{"nats.server.use_external_server", c.Nats.Server.UseExternalServer, true},
		{"nats.server.hosts", c.Nats.Server.Hosts, []string{"scim-stream.mycompany.com"}},
		{"nats.server.monitor_port", c.Nats.Server.MonitorPort, 8222},
		{"nats.server.certificate", c.Nats.Server.Certificate, Certificate{"server.crt", "server.key", "server-ca.pem"}},
		{"nats.server.auth.operator.jwt", c.Nats.Server.Auth.Operator.JWT, opJWT},
		{"nats.server.auth.operator.secret", c.Nats.Server.Auth.Operator.Secret.Reveal(), opSeed},
		{"nats.server.auth.operator.sys_account_jwt", c.Nats.Server.Auth.Operator.SysAccountJWT, sysJWT},
		{"nats.server.auth.operator.sys_account_secret", c.Nats.Server.Auth.Operator.SysAccountSecret.Reveal(), sysSeed},
		{"nats.server.auth.account.T.entra.jwt", acc.JWT, accJWT},
		{"nats.server.auth.account.T.entra.secret", acc.Secret.Reveal(), accSeed},
		{"nats.server.auth.account.T.entra.signing.pub_secret", acc.Signing["pub_secret"].Reveal(), signSeed},
		{"nats.server.auth.account.T.entra.signing.sub_entra_secret", acc.Signing["sub_entra_secret"].Reveal(), signSeed},
		{"nats.publisher.T.jwt", pub.JWT, userJWT},
		{"nats.publisher.T.secret", pub.Secret.Reveal(), userSeed},
		{"nats.publisher.T.urls", pub.URLs, []string{"nats://nats1.mycompany.com:4222", "nats://nats2.mycompany.com:4222"}},
		{"nats.publisher.T.max_age", pub.MaxAge, 30},
	} {
		if !reflect.DeepEqual(k.got, k.want) {
			t.Errorf("%s = %#v, want %#v", k.key, k.got, k.want)
		}
	}
}

// TestReferenceDefaults leaves out every key that has a documented default and checks the default.
func TestReferenceDefaults(t *testing.T) {
	c, err := Check(writeConfig(t, `entra:
  mycompany:
    auth: {oauth: {clients: [{client_id: a, client_secret: bcd}]}}
    general: {entra: {tenant_id: t.onmicrosoft.com}}
    streams: [{channel: APP1, rules: [{filter: (.*)}]}]
hr:
  mycompany:
    auth:
      base_urls: [https://api2.successfactors.eu]
      oauth_saml_assertion: {client_id: k, company_id: c, name_id: n, key_file: sf-key.pem, token_url: "https://api2.successfactors.eu/oauth/token"}
    general: {hr: {collect_query_string: /odata/v2/PerPerson}}
    streams: [{channel: SF, rules: [{filter: (.*)}]}]
    mapper: {user: [{id: {map_to: userName}}, {s: {map_to: startDate}}, {e: {map_to: endDate}}]}
nats:
  publisher:
    mycompany: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, h := c.Entra["mycompany"], c.HR["mycompany"]
	sa := h.Auth.OAuthSAMLAssertion
	pub := c.Nats.Publisher["mycompany"]
	for _, k := range []struct {
		key       string
		got, want any
	}{
		{"entra.T.general.collect_interval", e.General.CollectInterval, CollectInterval{Seconds: 5, Raw: "5"}},
		{"hr.T.general.collect_interval", h.General.CollectInterval.Seconds, 5},
		{"general.do_initial_load", e.General.DoInitialLoad || h.General.DoInitialLoad, false},
		{"entra.T.general.request_timeout", e.General.RequestTimeout, 90},
		{"hr.T.general.request_timeout", h.General.RequestTimeout, 90},
		{"entra.T.general.entra.include_guest_users", e.General.Entra.IncludeGuestUsers, false},
		{"entra.T.general.entra.use_original_group_id", e.General.Entra.UseOriginalGroupID, false},
		{"entra.T.general.entra.attribution_wait", e.General.Entra.AttributionWait, 300},
		{"hr.T.general.hr.pre_activate_days", h.General.HR.PreActivateDays, 0},
		{"hr.T.auth.oauth_saml_assertion.audience", sa.Audience, "scim-stream"},
		{"hr.T.auth.oauth_saml_assertion.issuer", sa.Issuer, "scim-stream"},
		{"hr.T.auth.oauth_saml_assertion.user_identifier_format", sa.UserIdentifierFormat, "userName"},
		{"hr.T.auth.oauth_saml_assertion.life_time", sa.LifeTime, 3600},
		{"log.console", c.Log.Console, false},
		{"log.level", c.Log.Level, "info"},
		{"log.max_age", c.Log.MaxAge, 0},
		{"log.max_backups", c.Log.MaxBackups, 10},
		{"log.max_size", c.Log.MaxSize, 10},
		{"email.on_error.enabled", c.Email.OnError.Enabled, false},
		{"email.on_error.send_interval", c.Email.OnError.SendInterval, 15},
		{"email.on_error.subject", c.Email.OnError.Subject, "SCIM Stream error - autogenerated email"},
		{"nats.server.port", c.Nats.Server.Port, 9012},
		{"nats.server.trace", c.Nats.Server.Trace, false},
		{"nats.server.use_external_server", c.Nats.Server.UseExternalServer, false},
		{"nats.server.monitor_port (off)", c.Nats.Server.MonitorPort, 0},
		{"nats.server.certificate.certfile", c.Nats.Server.Certificate.CertFile, "cert.pem"},
		{"nats.server.certificate.keyfile", c.Nats.Server.Certificate.KeyFile, "key.pem"},
		{"nats.server.certificate.cafile", c.Nats.Server.Certificate.CAFile, "ca.pem"},
		{"nats.publisher.T.urls", pub.URLs, []string{"nats://127.0.0.1:9012"}},
		{"nats.publisher.T.max_age", pub.MaxAge, 14},
	} {
		if !reflect.DeepEqual(k.got, k.want) {
			t.Errorf("%s = %#v, want the documented default %#v", k.key, k.got, k.want)
		}
	}
	// The default publisher URL follows a changed server port.
	c, err = Check(writeConfig(t, "nats:\n  server: {port: 4333}\n  publisher:\n    x: {}\nentra:\n  x:\n"+
		"    auth: {oauth: {clients: [{client_id: a, client_secret: bcd}]}}\n    general: {entra: {tenant_id: t}}\n"+
		"    streams: [{channel: A, rules: [{filter: (.*)}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Nats.Publisher["x"].URLs, ","); got != "nats://127.0.0.1:4333" {
		t.Errorf("default publisher url with port 4333: %s", got)
	}
}
