package scimserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/scim-stream/scim-stream/config"
)

// Auth is `scimgateway.auth`: the credentials the SCIM server accepts (the Node gateway's shape).
type Auth struct {
	Basic       []BasicAuth   `yaml:"basic"`
	BearerToken []BearerToken `yaml:"bearerToken"`
}

// BasicAuth is one `auth.basic` entry; Password is encrypted at rest.
type BasicAuth struct {
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	Access   `yaml:",inline"`
}

// BearerToken is one `auth.bearerToken` entry (the shared secret Entra provisioning sends); Token is encrypted
// at rest.
type BearerToken struct {
	Token  config.Secret `yaml:"token"`
	Access `yaml:",inline"`
}

// Access limits what a credential may do.
type Access struct {
	// ReadOnly allows GET only.
	ReadOnly bool `yaml:"readOnly"`
	// BaseEntities limits the credential to these base entities ("undefined" is the endpoint without a
	// prefix); empty allows all.
	BaseEntities []string `yaml:"baseEntities"`
}

func (a Auth) configured() bool { return len(a.Basic)+len(a.BearerToken) > 0 }

// identity is who sent an admitted request.
type identity struct {
	name string // user name, or "bearer" (never the token)
	Access
}

func (id *identity) allows(baseEntity string) bool {
	if id == nil || len(id.BaseEntities) == 0 {
		return true
	}
	be := baseEntity
	if be == "" {
		be = "undefined"
	}
	return slices.Contains(id.BaseEntities, be)
}

func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// authenticate checks the Authorization header against every configured credential in constant time per
// credential, comparing digests so that lengths leak nothing. It never says which part was wrong.
func (a Auth) authenticate(r *http.Request) *identity {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	var found *identity
	switch strings.ToLower(scheme) {
	case "basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil
		}
		u, p := digest(user), digest(pass)
		for i := range a.Basic {
			b := &a.Basic[i]
			okUser := subtle.ConstantTimeCompare(u, digest(b.Username))
			okPass := subtle.ConstantTimeCompare(p, digest(b.Password.Reveal()))
			if okUser&okPass == 1 && found == nil {
				found = &identity{name: b.Username, Access: b.Access}
			}
		}
	case "bearer":
		t := digest(cred)
		for i := range a.BearerToken {
			b := &a.BearerToken[i]
			if subtle.ConstantTimeCompare(t, digest(b.Token.Reveal())) == 1 && found == nil && b.Token != "" {
				found = &identity{name: "bearer", Access: b.Access}
			}
		}
	}
	return found
}

// front is what every HTTP request passes before it is served or relayed: IP allow list, path checks,
// authentication, read-only and base entity limits, body size.
type front struct {
	opts *ServerOptions
}

func newFront(opts *ServerOptions) *front { return &front{opts: opts} }

type relayedKey struct{}

// withRelayed marks a request that arrived over NATS from a publisher gateway, which already admitted it.
func withRelayed(ctx context.Context) context.Context {
	return context.WithValue(ctx, relayedKey{}, true)
}

func isRelayed(r *http.Request) bool { v, _ := r.Context().Value(relayedKey{}).(bool); return v }

func (f *front) admit(w http.ResponseWriter, r *http.Request) (route, *identity, bool) {
	if len(f.opts.IPAllowList) > 0 && !isRelayed(r) {
		ip, ok := f.clientIP(r)
		if !ok || !containsIP(f.opts.IPAllowList, ip) {
			f.opts.Log.Warn("scim request from an address not in ipAllowList", "client", ip.String(), "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, "", "access denied")
			return route{}, nil, false
		}
	}
	rt, err := parseRoute(r.URL.EscapedPath())
	if err != nil {
		e, _ := toSCIMError(err)
		writeError(w, e.Status, e.ScimType, e.Detail)
		return rt, nil, false
	}
	if rt.resource == resPing {
		return rt, nil, true
	}
	var who *identity
	// A relayed request was admitted by the publisher gateway (auth, read-only, base entities) and carries no
	// usable credential.
	if f.opts.Auth.configured() && !isRelayed(r) {
		who = f.opts.Auth.authenticate(r)
		if who == nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="SCIM Stream", Bearer realm="SCIM Stream"`)
			writeError(w, http.StatusUnauthorized, "", "authentication failed")
			return rt, nil, false
		}
		if !who.allows(rt.baseEntity) {
			writeError(w, http.StatusForbidden, "", "this credential is not allowed for this base entity")
			return rt, nil, false
		}
		if who.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead &&
			!(r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/.search")) {
			writeError(w, http.StatusForbidden, "", "this credential is read-only")
			return rt, nil, false
		}
	}
	if r.ContentLength > f.opts.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "", "the request body is too large")
		return rt, nil, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, f.opts.MaxBodyBytes)
	return rt, who, true
}

func containsIP(nets []netip.Prefix, ip netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

func (f *front) fromTrustedProxy(r *http.Request) bool {
	if isRelayed(r) {
		return true
	}
	ip, ok := remoteIP(r)
	return ok && containsIP(f.opts.TrustedProxies, ip)
}

// clientIP is the peer address, or — when the peer is a trusted proxy — the right-most X-Forwarded-For
// address that is not itself a trusted proxy (addresses further left are client-supplied and unverifiable).
func (f *front) clientIP(r *http.Request) (netip.Addr, bool) {
	ip, ok := remoteIP(r)
	if !ok || !containsIP(f.opts.TrustedProxies, ip) {
		return ip, ok
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		hop = hop.Unmap()
		if !containsIP(f.opts.TrustedProxies, hop) {
			return hop, true
		}
		ip = hop
	}
	return ip, true
}
