package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"github.com/robfig/cron/v3"
)

// Validation checks what the reference requires and what would otherwise fail later at run time. Messages name
// the key (by path), the bad value when it is not a secret, and what to do.

// tenantNameRe: a tenant name is also the NATS stream name subscribers address.
var tenantNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// subjectTokenRe: one token of a channel (subject) without wildcards or white space.
var subjectTokenRe = regexp.MustCompile(`^[^\s.*>]+$`)

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (l *loader) validate(c *Config) {
	for k, t := range c.Tenants() {
		l.validateTenant(k.Kind, k.Name, t)
	}
	l.validateLog(c.Log)
	l.validateEmail(c.Email)
	l.validateNats(c)
}

func (l *loader) validateTenant(kind, name string, t *Tenant) {
	p := kind + "." + name
	if !tenantNameRe.MatchString(name) {
		l.errAt(p, fmt.Sprintf("tenant name %q is also the NATS stream name: use only letters, digits, '-' and '_'", name))
	}
	l.validateGeneral(kind, p+".general", &t.General)
	l.validateAuth(kind, p+".auth", &t.Auth)
	if len(t.Streams) == 0 {
		l.errAt(p+".streams", "at least one stream (channel with rules) is needed, otherwise nothing is published")
	}
	channels := map[string]string{}
	for i, s := range t.Streams {
		sp := fmt.Sprintf("%s.streams[%d]", p, i)
		switch {
		case s.Channel == "":
			l.errAt(sp+".channel", "channel is mandatory (e.g. APP1 or AD.USER)")
		case !validChannel(s.Channel):
			l.errAt(sp+".channel", fmt.Sprintf("%q is not a valid channel: use tokens without spaces, '*' or '>', separated by '.'", s.Channel))
		default:
			if prev, dup := channels[s.Channel]; dup {
				l.errAt(sp+".channel", fmt.Sprintf("channel %q is already defined at %s", s.Channel, prev))
			}
			channels[s.Channel] = sp
		}
		l.validateFilters(sp+".rules", s.Rules, true)
	}
	ids := map[string]string{}
	for i, d := range t.Dynamics {
		dp := fmt.Sprintf("%s.dynamics[%d]", p, i)
		if d.DynamicID == "" {
			l.errAt(dp, "dynamic_id is mandatory: stream rules refer to it as (user.dynamicIds -match \"<id>\")")
		} else if prev, dup := ids[d.DynamicID]; dup {
			l.errAt(dp, fmt.Sprintf("dynamic_id %q is already used by %s", d.DynamicID, prev))
		} else {
			ids[d.DynamicID] = dp
		}
		if len(d.Rules) == 0 {
			l.errAt(dp, "rules: at least one filter is needed")
		}
		for j, r := range d.Rules {
			if strings.TrimSpace(r.Filter) == "" {
				l.errLine(r.Line, fmt.Sprintf("%s.rules[%d].filter", dp, j), "filter is empty")
			}
		}
		if len(d.Assignments) == 0 {
			l.errAt(dp, "assignments: at least one user attribute to assign is needed")
		}
		for _, a := range d.Assignments {
			if !strings.HasPrefix(a.Path, "user.") || len(a.Path) == len("user.") {
				l.errLine(a.Line, dp+".assignments", fmt.Sprintf("%q must name a user attribute, e.g. user.groups, user.roles, user.title", a.Path))
			}
		}
	}
	l.validateMapper(kind, p+".mapper", &t.Mapper)
}

func (l *loader) validateFilters(path string, fs []Filter, required bool) {
	if required && len(fs) == 0 {
		l.errAt(path, "at least one filter is needed, e.g. - filter: (.*)")
	}
	for i, f := range fs {
		if strings.TrimSpace(f.Filter) == "" {
			l.errAt(fmt.Sprintf("%s[%d].filter", path, i), "filter is empty")
		}
	}
}

func validChannel(c string) bool {
	for _, tok := range strings.Split(c, ".") {
		if !subjectTokenRe.MatchString(tok) {
			return false
		}
	}
	return true
}

func (l *loader) validateGeneral(kind, p string, g *General) {
	ci := g.CollectInterval
	switch {
	case ci.IsCron():
		if len(strings.Fields(ci.Cron)) != 5 {
			l.errAt(p+".collect_interval", fmt.Sprintf("%q is neither a number of seconds nor a 5-field crontab expression (<min> <hour> <day> <month> <weekday>)", ci.Raw))
		} else if _, err := cron.ParseStandard(ci.Cron); err != nil {
			l.errAt(p+".collect_interval", fmt.Sprintf("%q is not a valid crontab expression: %v", ci.Raw, err))
		}
	case ci.Seconds < MinCollectInterval:
		l.errAt(p+".collect_interval", fmt.Sprintf("%q is below the minimum of %d seconds", ci.Raw, MinCollectInterval))
	}
	if g.RequestTimeout < 1 {
		l.errAt(p+".request_timeout", fmt.Sprintf("%d must be at least 1 second (default %d)", g.RequestTimeout, DefaultRequestTimeout))
	}
	l.validateGuard(p+".guard", g.Guard)
	switch kind {
	case "entra":
		if g.Entra.TenantID == "" {
			l.errAt(p+".entra.tenant_id", "tenant_id is mandatory: the Entra ID tenant ID (GUID) or domain name")
		}
		if l.present(p + ".hr") {
			l.errAt(p+".hr", "general.hr is for hr tenants only; an entra tenant uses general.entra")
		}
		if g.Entra.AttributionWait < 0 {
			l.errAt(p+".entra.attribution_wait", fmt.Sprintf("%d must not be negative (seconds; default %d)", g.Entra.AttributionWait, DefaultAttributionWait))
		}
		for _, u := range []string{"graph_url", "login_url"} {
			if v := l.nodes[p+".entra."+u]; v != nil && !isNull(v) && !validURL(v.Value, "https", "http") {
				l.errAt(p+".entra."+u, fmt.Sprintf("%q is not an http(s) URL", v.Value))
			}
		}
	case "hr":
		if g.HR.CollectQueryString == "" {
			l.errAt(p+".hr.collect_query_string", "collect_query_string is mandatory for hr: the REST query (path and query string) that returns all users")
		}
		if g.HR.PreActivateDays < 0 {
			l.errAt(p+".hr.pre_activate_days", fmt.Sprintf("%d must not be negative", g.HR.PreActivateDays))
		}
		if l.present(p + ".entra") {
			l.errAt(p+".entra", "general.entra is for entra tenants only; an hr tenant uses general.hr")
		}
		if g.DoInitialLoadFilter != "" {
			l.errAt(p+".do_initial_load_filter", "do_initial_load_filter is for entra tenants; for hr use do_initial_load: true")
		}
	}
}

func (l *loader) validateAuth(kind, p string, a *Auth) {
	if kind == "entra" {
		if a.OAuth == nil || len(a.OAuth.Clients) == 0 {
			l.errAt(p+".oauth.clients", "at least one OAuth client (client_id, client_secret of the Entra application) is needed")
		}
		for _, k := range []string{"oauth_saml_assertion", "basic", "bearer_token", "header", "base_urls"} {
			if l.present(p + "." + k) {
				l.errAt(p+"."+k, k+" is for hr tenants only: Entra uses auth.oauth and general.entra.tenant_id")
			}
		}
	}
	if a.OAuth != nil {
		for i, c := range a.OAuth.Clients {
			cp := fmt.Sprintf("%s.oauth.clients[%d]", p, i)
			if c.ClientID == "" {
				l.errAt(cp+".client_id", "client_id is mandatory")
			}
			if c.ClientSecret == "" {
				l.errAt(cp+".client_secret", "client_secret is mandatory (set it here, it is encrypted on start-up, or through the environment)")
			}
		}
	}
	if kind != "hr" {
		return
	}
	if len(a.BaseURLs) == 0 {
		l.errAt(p+".base_urls", "at least one base URL of the HR API is needed, e.g. https://api2.successfactors.eu")
	}
	for i, u := range a.BaseURLs {
		if !validURL(u, "https", "http") {
			l.errAt(fmt.Sprintf("%s.base_urls[%d]", p, i), fmt.Sprintf("%q is not an http(s) URL", u))
		}
	}
	if s := a.OAuthSAMLAssertion; s != nil {
		sp := p + ".oauth_saml_assertion"
		for _, f := range []struct{ key, val string }{
			{"client_id", s.ClientID}, {"company_id", s.CompanyID}, {"name_id", s.NameID},
			{"key_file", s.KeyFile}, {"token_url", s.TokenURL},
		} {
			if f.val == "" {
				l.errAt(sp+"."+f.key, f.key+" is mandatory for oauth_saml_assertion")
			}
		}
		if s.TokenURL != "" && !validURL(s.TokenURL, "https", "http") {
			l.errAt(sp+".token_url", fmt.Sprintf("%q is not an http(s) URL", s.TokenURL))
		}
		if !slices.Contains([]string{"userName", "userId", "email"}, s.UserIdentifierFormat) {
			l.errAt(sp+".user_identifier_format", fmt.Sprintf("%q must be userName, userId or email", s.UserIdentifierFormat))
		}
		if s.LifeTime < 1 {
			l.errAt(sp+".life_time", fmt.Sprintf("%d must be at least 1 second (default %d)", s.LifeTime, DefaultSAMLLifeTime))
		}
	}
	if b := a.Basic; b != nil {
		if b.Username == "" {
			l.errAt(p+".basic.username", "username is mandatory for basic authentication")
		}
		if b.Password == "" {
			l.errAt(p+".basic.password", "password is mandatory for basic authentication")
		}
	}
	if b := a.BearerToken; b != nil && b.Token == "" {
		l.errAt(p+".bearer_token.token", "token is mandatory for bearer_token authentication")
	}
}

func (l *loader) validateMapper(kind, p string, m *Mapper) {
	if kind == "entra" && len(m.Rules) > 0 {
		l.errAt(p+".rules", "mapper rules (-most_current) apply to hr tenants only")
	}
	if kind == "hr" && len(m.User) == 0 {
		l.errAt(p+".user", "the mapper is mandatory for hr: map at least userName, startDate and endDate")
	}
	l.validateFilters(p+".rules", m.Rules, false)
	for _, list := range []struct {
		name string
		ms   []Mapping
	}{{"group", m.Group}, {"user", m.User}} {
		seen := map[string]int{}
		for i, mp := range list.ms {
			ep := fmt.Sprintf("%s.%s[%d]", p, list.name, i)
			if strings.TrimSpace(mp.Source) == "" {
				l.errLine(mp.Line, ep, "the source attribute is empty")
			}
			if mp.MapTo == "" {
				l.errLine(mp.Line, ep, fmt.Sprintf("%q has no map_to (the SCIM attribute to set)", mp.Source))
				continue
			}
			if prev, dup := seen[mp.MapTo]; dup {
				l.errLine(mp.Line, ep, fmt.Sprintf("map_to %q is already set by the entry on line %d", mp.MapTo, prev))
			}
			seen[mp.MapTo] = mp.Line
		}
		if kind == "hr" && list.name == "user" && len(list.ms) > 0 {
			for _, need := range []string{"userName", "startDate", "endDate"} {
				if _, ok := seen[need]; !ok {
					l.errAt(p+".user", fmt.Sprintf("no entry maps to %s: the hr mapper must set userName, startDate and endDate", need))
				}
			}
		}
	}
}

func (l *loader) validateLog(g Log) {
	if !slices.Contains([]string{"debug", "info", "warn", "error", "disabled"}, g.Level) {
		l.errAt("log.level", fmt.Sprintf("%q must be debug, info, warn, error or disabled", g.Level))
	}
	if !slices.Contains([]string{"text", "json"}, g.Format) {
		l.errAt("log.format", fmt.Sprintf("%q must be text or json", g.Format))
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"max_size", g.MaxSize}, {"max_backups", g.MaxBackups}, {"max_age", g.MaxAge}} {
		if f.v < 0 {
			l.errAt("log."+f.key, fmt.Sprintf("%d must not be negative", f.v))
		}
	}
	if g.MaxSize == 0 && l.present("log.max_size") {
		l.errAt("log.max_size", "0 must be at least 1 (megabytes)")
	}
}

func (l *loader) validateEmail(e Email) {
	if e.SMTP.Port < 0 || e.SMTP.Port > 65535 {
		l.errAt("email.smtp.port", fmt.Sprintf("%d is not a TCP port", e.SMTP.Port))
	}
	if e.SMTP.Proxy != "" && !validURL(e.SMTP.Proxy, "http", "https", "socks5") {
		l.errAt("email.smtp.proxy", fmt.Sprintf("%q is not a proxy URL such as http://proxy-host:1234", e.SMTP.Proxy))
	}
	if e.OnError.SendInterval < 0 {
		l.errAt("email.on_error.send_interval", fmt.Sprintf("%d must not be negative", e.OnError.SendInterval))
	}
	if !e.OnError.Enabled {
		return
	}
	if e.SMTP.Host == "" {
		l.errAt("email.smtp.host", "host is mandatory when email.on_error.enabled is true")
	}
	if e.SMTP.Port == 0 {
		l.errAt("email.smtp.port", "port is mandatory when email.on_error.enabled is true (587, 25 or 465)")
	}
	if len(e.OnError.To) == 0 {
		l.errAt("email.on_error.to", "at least one recipient is needed when enabled is true")
	}
	for _, a := range e.OnError.To {
		if !strings.Contains(a, "@") {
			l.errAt("email.on_error.to", fmt.Sprintf("%q is not an e-mail address", a))
		}
	}
}

func (l *loader) validateNats(c *Config) {
	s := c.Nats.Server
	if s.Port < 1 || s.Port > 65535 {
		l.errAt("nats.server.port", fmt.Sprintf("%d is not a TCP port (default %d)", s.Port, DefaultNatsPort))
	}
	if s.MonitorPort < 0 || s.MonitorPort > 65535 {
		l.errAt("nats.server.monitor_port", fmt.Sprintf("%d is not a TCP port (0 disables monitoring)", s.MonitorPort))
	}
	for i, h := range s.Hosts {
		if err := CheckHost(h); err != nil {
			l.errAt(fmt.Sprintf("nats.server.hosts[%d]", i), err.Error())
		}
	}
	l.validateCluster(&c.Nats.Server)
	tenant := func(name string) bool { return c.Entra[name] != nil || c.HR[name] != nil }
	op := s.Auth.Operator
	l.checkJWT("nats.server.auth.operator.jwt", op.JWT, jwt.OperatorClaim)
	l.checkSeed("nats.server.auth.operator.secret", op.Secret, nkeys.PrefixByteOperator)
	l.checkJWT("nats.server.auth.operator.sys_account_jwt", op.SysAccountJWT, jwt.AccountClaim)
	l.checkSeed("nats.server.auth.operator.sys_account_secret", op.SysAccountSecret, nkeys.PrefixByteAccount)
	if st := s.Auth.State; st != nil {
		l.checkAccount("nats.server.auth.state", st)
	}
	for _, name := range sortedKeys(s.Auth.Account) {
		ap := "nats.server.auth.account." + name
		if !tenant(name) {
			l.errAt(ap, fmt.Sprintf("no entra or hr tenant is named %q: account names must match tenant names", name))
		}
		if ta := s.Auth.Account[name]; ta != nil {
			for _, k := range []struct {
				key string
				a   *AccountKeys
			}{{"entra", ta.Entra}, {"hr", ta.HR}, {"gw", ta.GW}} {
				if k.a != nil {
					l.checkAccount(ap+"."+k.key, k.a)
				}
			}
		}
	}
	for _, name := range sortedKeys(c.Nats.Publisher) {
		pp := "nats.publisher." + name
		p := c.Nats.Publisher[name]
		if !tenant(name) {
			l.errAt(pp, fmt.Sprintf("no entra or hr tenant is named %q: publisher names must match tenant names", name))
		}
		if s.UseExternalServer && !l.present(pp+".urls") {
			l.errAt(pp+".urls", "urls of the external NATS server are mandatory when nats.server.use_external_server is true")
		}
		for i, u := range p.URLs {
			if !validURL(u, "nats", "tls", "ws", "wss") {
				l.errAt(fmt.Sprintf("%s.urls[%d]", pp, i), fmt.Sprintf("%q is not a NATS URL such as nats://127.0.0.1:%d", u, s.Port))
			}
		}
		if p.MaxAge < 1 {
			l.errAt(pp+".max_age", fmt.Sprintf("%d must be at least 1 day (default %d)", p.MaxAge, DefaultMaxAgeDays))
		}
		l.checkJWT(pp+".jwt", p.JWT, jwt.UserClaim)
		l.checkSeed(pp+".secret", p.Secret, nkeys.PrefixByteUser)
	}
}

func (l *loader) checkAccount(p string, a *AccountKeys) {
	l.checkJWT(p+".jwt", a.JWT, jwt.AccountClaim)
	l.checkSeed(p+".secret", a.Secret, nkeys.PrefixByteAccount)
	for _, k := range sortedKeys(a.Signing) {
		l.checkSeed(p+".signing."+k, a.Signing[k], nkeys.PrefixByteAccount)
	}
}

// checkJWT checks an optional JWT's kind; bootstrap writes them, so the fix is to run it again.
func (l *loader) checkJWT(path, token string, want jwt.ClaimType) {
	if token == "" {
		return
	}
	c, err := jwt.Decode(token)
	if err != nil {
		l.errAt(path, fmt.Sprintf("is not a valid NATS JWT (%v): run scim-stream bootstrap again or restore it", err))
		return
	}
	if c.ClaimType() != want {
		l.errAt(path, fmt.Sprintf("is a NATS %s JWT, expected %s", c.ClaimType(), want))
	}
}

var seedKinds = map[nkeys.PrefixByte]string{
	nkeys.PrefixByteOperator: "operator", nkeys.PrefixByteAccount: "account", nkeys.PrefixByteUser: "user",
}

// checkSeed checks an optional NKey seed's kind without ever printing it.
func (l *loader) checkSeed(path string, seed Secret, want nkeys.PrefixByte) {
	if seed == "" {
		return
	}
	pre, _, err := nkeys.DecodeSeed([]byte(seed.Reveal()))
	if err != nil {
		l.errAt(path, "is not a valid NATS NKey seed: run scim-stream bootstrap again or restore it")
		return
	}
	if pre != want {
		got := seedKinds[pre]
		if got == "" {
			got = strconv.Itoa(int(pre))
		}
		l.errAt(path, fmt.Sprintf("is a NATS %s seed, expected a seed of kind %s", got, seedKinds[want]))
	}
}

func validURL(s string, schemes ...string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && slices.Contains(schemes, u.Scheme)
}

// hostRe is a DNS name as a certificate can name it (letters, digits, '-' and '_' in dot-separated labels).
var hostRe = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*$`)

// CheckHost reports why h cannot be put into the server certificate as a name subscribers connect by.
func CheckHost(h string) error {
	if net.ParseIP(h) != nil || (hostRe.MatchString(h) && len(h) <= 253) {
		return nil
	}
	return fmt.Errorf("%q is not a host name or IP address: give the name subscribers use in their URL, without scheme or port (e.g. scim-stream.mycompany.com)", h)
}
