package entra

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// Microsoft endpoints. general.entra.graph_url and login_url select a national cloud; the public cloud is the
// default.
const (
	DefaultGraphURL = "https://graph.microsoft.com"
	DefaultLoginURL = "https://login.microsoftonline.com"
	// US Government L4/L5 (DoD uses https://dod-graph.microsoft.us with the same login host).
	USGovGraphURL = "https://graph.microsoft.us"
	USGovLoginURL = "https://login.microsoftonline.us"
	// China, operated by 21Vianet.
	ChinaGraphURL = "https://microsoftgraph.chinacloudapi.cn"
	ChinaLoginURL = "https://login.chinacloudapi.cn"
)

// Defaults of the Options durations.
const (
	DefaultRoleRefresh   = 10 * time.Minute
	DefaultAuditLookback = 2 * time.Minute
	// DefaultResyncAfter is the age of a delta link after which the source resyncs in full rather than risk the
	// link expiring (Graph keeps the sync state of directory objects for 7 days).
	DefaultResyncAfter = 6 * 24 * time.Hour
	DefaultTimeout     = 90 * time.Second
)

// Options tune a Source. The zero value uses the configuration and the public Microsoft cloud.
type Options struct {
	// HTTPClient is used for Graph and for the token endpoint (nil: http.DefaultClient).
	HTTPClient *http.Client
	Log        *slog.Logger
	Now        func() time.Time
	// GraphURL and AuthorityHost override general.entra.graph_url and general.entra.login_url.
	GraphURL      string
	AuthorityHost string
	// Select lists the source paths the tenant's mapper, rules and dynamics read (e.g. "employeeOrgData.division",
	// "manager.userPrincipalName"); their first segment selects the Graph user property. The properties the
	// collector itself needs are always added.
	Select []string
	// Applications restricts the enterprise applications whose app role assignments are read, by service
	// principal object id or display name (those the tenant's rules and dynamics refer to). Empty reads every
	// application that defines app roles.
	Applications []string
	// Credential replaces the credentials built from the tenant's auth section.
	Credential azcore.TokenCredential
	// RoleRefresh is how often every application's assignments are re-read in full as a safety net next to the
	// audit log (default 10 min).
	RoleRefresh time.Duration
	// AuditLookback is how far before the last audit poll the next one looks again, since audit rows become
	// visible out of order (default 2 min).
	AuditLookback time.Duration
	// ResyncAfter is the delta link age that triggers a full resync (default 6 days).
	ResyncAfter time.Duration
	// AttributionWait holds a changed user until the audit log names who made the change, at most this long
	// (then the change is published with the initiator unknown). Set it (e.g. DefaultAttributionWait) only when
	// a rule or dynamic reads initiatedById/initiatedByUpn: the audit log lags the directory by seconds to
	// minutes. Zero publishes at once. Deletions are held too, so a rule excluding the sync account also keeps
	// its deletions from looping back.
	AttributionWait time.Duration
}

// DefaultAttributionWait is the documented wait for tenants whose rules read initiatedBy.
const DefaultAttributionWait = 5 * time.Minute

func (o *Options) defaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RoleRefresh <= 0 {
		o.RoleRefresh = DefaultRoleRefresh
	}
	if o.AuditLookback <= 0 {
		o.AuditLookback = DefaultAuditLookback
	}
	if o.ResyncAfter <= 0 {
		o.ResyncAfter = DefaultResyncAfter
	}
}
