// Package entra collects users, their transitive group memberships and their application role assignments from
// Microsoft Entra ID through Microsoft Graph delta queries, and emits them as collector records with who made each
// change (from the directory audit log).
package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/scim-stream/scim-stream/collector"
	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/wire"
)

// cpKey holds the sync point in the collector's checkpoints.
const cpKey = "entra.sync"

// syncPoint is what survives a collection: the delta links to resume from and the audit log watermark.
type syncPoint struct {
	Users      string    `json:"users"`
	Groups     string    `json:"groups"`
	Issued     time.Time `json:"issued"`
	AuditSince time.Time `json:"auditSince"`
}

// Source is the Entra ID source of one tenant. It implements collector.Source.
type Source struct {
	name   string
	prefix string // configuration key of the tenant, for errors
	gen    config.EntraGeneral
	opts   Options
	c      *client
	sel    []string
	log    *slog.Logger

	mu        sync.Mutex // one collection at a time
	dir       *directory // nil until a full sync succeeded in this process
	forceFull bool
	rolesAt   time.Time
	audits    auditLog
	held      map[string]heldChange // users waiting for their audit row (AttributionWait)
}

// heldChange is a change waiting for its audit row: since when, the group or principal it came through, and
// whether it is a removal (the directory no longer has the user to rebuild the record from).
type heldChange struct {
	since   time.Time
	cause   string
	removed bool
}

var _ collector.Source = (*Source)(nil)

// defaultSources are the source paths of the documentation's default Entra mapper, used when Options.Select is
// empty.
var defaultSources = []string{"userPrincipalName", "accountEnabled", "displayName", "givenName", "surname", "mail",
	"otherMails", "businessPhones", "jobTitle", "preferredLanguage", "physicalDeliveryOfficeName", "streetAddress",
	"state", "city", "postalCode", "country", "mobilePhone", "faxNumber", "mailNickname", "employeeHireDate",
	"companyName", "employeeId", "employeeType", "department", "employeeOrgData.costCenter", "employeeOrgData.division",
	"manager.userPrincipalName", "manager.displayName", "groups", "appRoles"}

// New returns the source of Entra tenant name configured by t.
func New(name string, t *config.Tenant, o Options) (*Source, error) {
	o.defaults()
	prefix := "entra." + name
	g := t.General.Entra
	if g.TenantID == "" {
		return nil, fmt.Errorf("%s.general.entra.tenant_id: required (the directory's GUID or a verified domain such as mycompany.com)", prefix)
	}
	graphURL := firstOf(o.GraphURL, g.GraphURL, DefaultGraphURL)
	loginURL := firstOf(o.AuthorityHost, g.LoginURL, DefaultLoginURL)
	graphURL, loginURL = strings.TrimSuffix(graphURL, "/"), strings.TrimSuffix(loginURL, "/")
	for key, u := range map[string]string{"graph_url": graphURL, "login_url": loginURL} {
		if !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("%s.general.entra.%s: %q must be an https:// URL", prefix, key, u)
		}
	}
	cred, err := credential(prefix, g.TenantID, t.Auth, o, loginURL)
	if err != nil {
		return nil, err
	}
	timeout := t.General.Timeout()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	paths := o.Select
	if len(paths) == 0 {
		paths = defaultSources
	}
	sel, unknown := selectList(paths)
	log := o.Log.With("tenant", name, "type", string(wire.Entra))
	if len(unknown) > 0 {
		log.Warn("mapper source attributes that are not Microsoft Graph user properties are not collected", "attributes", unknown)
	}
	s := &Source{name: name, prefix: prefix, gen: g, opts: o, sel: sel, log: log,
		c: &client{http: o.HTTPClient, base: graphURL + "/v1.0", cred: cred, scope: scope(graphURL), timeout: timeout, log: log, sleep: sleepCtx, audit: auditBudget()}}
	s.audits.seen = map[string]time.Time{}
	s.audits.who = map[string]attribution{}
	s.audits.emitted = map[string]time.Time{}
	s.held = map[string]heldChange{}
	return s, nil
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// Type implements collector.Source.
func (s *Source) Type() wire.Type { return wire.Entra }

// Policy: a user a full resync no longer lists was deleted in the directory during the gap; users have no
// start and end dates.
func (s *Source) Policy() collector.Policy {
	return collector.Policy{Leavers: collector.LeaversDeleted}
}

// RequestFull makes the next collection a full one (an initial load requested on a running source).
func (s *Source) RequestFull() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forceFull = true
}

// Collect implements collector.Source. The first collection of a process, a requested initial load, an expired
// delta link (410) and a link older than ResyncAfter give a full collection (full=true): every in-scope user is
// emitted and the pipeline publishes only real differences. Otherwise only users whose attributes, transitive
// groups or roles changed are emitted.
func (s *Source) Collect(ctx context.Context, cp collector.Checkpoints, emit func(collector.Record) error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sp syncPoint
	b, err := cp.Get(ctx, cpKey)
	if err != nil {
		return false, fmt.Errorf("%s: read sync point: %w", s.prefix, err)
	}
	if len(b) > 0 && json.Unmarshal(b, &sp) != nil {
		s.log.Warn("stored sync point unreadable; collecting in full", "key", cpKey)
		sp = syncPoint{}
	}
	now := s.opts.Now()
	full := s.dir == nil || s.forceFull || sp.Users == "" || sp.Groups == "" || now.Sub(sp.Issued) > s.opts.ResyncAfter
	if !full {
		mutated, err := s.incremental(ctx, cp, sp, emit)
		switch {
		case err == nil:
			return false, nil
		case errors.Is(err, errResync):
			s.log.Info("delta sync state expired at Graph; resynchronizing in full", "error", err)
		default:
			if mutated {
				// The in-memory directory is ahead of the committed links: start over rather than miss the
				// consequences of changes that would not be reported again.
				s.dir = nil
			}
			return false, fmt.Errorf("%s: %w", s.prefix, err)
		}
	}
	if err := s.fullSync(ctx, cp, emit); err != nil {
		s.dir = nil
		return true, fmt.Errorf("%s: full sync: %w", s.prefix, err)
	}
	s.forceFull = false
	return true, nil
}

// inScope applies include_guest_users and skip_upn_startswith.
func (s *Source) inScope(u map[string]any) bool {
	if t, _ := u["userType"].(string); !s.gen.IncludeGuestUsers && strings.EqualFold(t, "Guest") {
		return false
	}
	upn, _ := u["userPrincipalName"].(string)
	upn = strings.ToLower(upn)
	for _, p := range s.gen.SkipUPNStartsWith {
		if p != "" && strings.HasPrefix(upn, strings.ToLower(p)) {
			return false
		}
	}
	return true
}

// wantApp applies Options.Applications.
func (s *Source) wantApp(sp servicePrincipal) bool {
	if len(sp.AppRoles) == 0 {
		return false
	}
	if len(s.opts.Applications) == 0 {
		return true
	}
	for _, a := range s.opts.Applications {
		// Rules compare role types case-insensitively (user.roles.application1.value matches "Application1"),
		// so the application must be read whichever way the rule spells its name.
		if strings.EqualFold(a, sp.ID) || strings.EqualFold(a, sp.DisplayName) {
			return true
		}
	}
	return false
}
