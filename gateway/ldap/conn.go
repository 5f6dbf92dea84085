package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/scim-stream/scim-stream/gateway/endpoint"
)

// conns keeps one bound connection (go-ldap multiplexes concurrent requests on it) and dials again, trying the
// URLs in order, after it broke.
type conns struct {
	cfg Config
	tls *tls.Config
	log *slog.Logger

	mu     sync.Mutex
	conn   *ldap.Conn
	closed bool
}

func newConns(cfg Config, dir string, log *slog.Logger) (*conns, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLS.InsecureSkipVerify, ServerName: cfg.TLS.ServerName}
	if cfg.TLS.CA != "" {
		pem, err := os.ReadFile(resolve(dir, cfg.TLS.CA))
		if err != nil {
			return nil, fmt.Errorf("endpoint.tls.ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("endpoint.tls.ca: %s holds no PEM certificate", cfg.TLS.CA)
		}
		tc.RootCAs = pool
	}
	if cfg.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(resolve(dir, cfg.TLS.Cert), resolve(dir, cfg.TLS.Key))
		if err != nil {
			return nil, fmt.Errorf("endpoint.tls.cert/key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &conns{cfg: cfg, tls: tc, log: log}, nil
}

func resolve(dir, name string) string {
	if filepath.IsAbs(name) || dir == "" {
		return name
	}
	return filepath.Join(dir, name)
}

// get returns the bound connection, dialing when there is none or it broke.
func (p *conns) get() (*ldap.Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("ldap: the endpoint is closed: %w", endpoint.ErrUnavailable)
	}
	if p.conn != nil && !p.conn.IsClosing() {
		return p.conn, nil
	}
	var errs []error
	for _, u := range p.cfg.URLs {
		c, err := p.dial(u)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		if len(errs) > 0 {
			p.log.Warn("ldap: connected to a failover URL", "url", u, "failed", errors.Join(errs...))
		}
		p.conn = c
		return c, nil
	}
	return nil, fmt.Errorf("ldap: no directory server answered: %v: %w", errors.Join(errs...), endpoint.ErrUnavailable)
}

func (p *conns) dial(u string) (*ldap.Conn, error) {
	tc := p.tls.Clone()
	if tc.ServerName == "" {
		if pu, err := url.Parse(u); err == nil {
			tc.ServerName = pu.Hostname()
		}
	}
	c, err := ldap.DialURL(u, ldap.DialWithDialer(&net.Dialer{Timeout: p.cfg.Timeout}), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(p.cfg.Timeout)
	if p.cfg.StartTLS {
		if err := c.StartTLS(tc); err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	if p.cfg.Bind.Method == "external" {
		err = c.ExternalBind()
	} else {
		err = c.Bind(p.cfg.Bind.DN, p.cfg.Bind.Password.Reveal())
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bind as %q: %w", p.cfg.Bind.DN, err)
	}
	return c, nil
}

// drop forgets c after a network error so that the next get dials again.
func (p *conns) drop(c *ldap.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == c {
		p.conn.Close()
		p.conn = nil
	}
}

func (p *conns) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.conn != nil {
		err := p.conn.Close()
		p.conn = nil
		return err
	}
	return nil
}

// run calls fn with a bound connection. A broken connection (the server restarted) is dialed again and fn
// retried once, so that one restart does not surface as an error.
func (e *Endpoint) run(ctx context.Context, fn func(c *ldap.Conn) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ldap: %v: %w", err, endpoint.ErrUnavailable)
		}
		c, err := e.conns.get()
		if err != nil {
			return err
		}
		err = fn(c)
		if err != nil && isNetwork(err) {
			e.conns.drop(c)
			if attempt == 0 {
				continue
			}
		}
		return err
	}
}

func isNetwork(err error) bool {
	return ldap.IsErrorAnyOf(err, ldap.ErrorNetwork, ldap.LDAPResultServerDown, ldap.LDAPResultConnectError)
}

// mapErr wraps an LDAP error with the object it concerns and the gateway sentinel its result code means:
// schema and value problems are permanent (the subscriber terms the message), everything else is retried.
func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, endpoint.ErrNotFound) || errors.Is(err, endpoint.ErrConflict) ||
		errors.Is(err, endpoint.ErrInvalid) || errors.Is(err, endpoint.ErrUnavailable) {
		return fmt.Errorf("ldap: %s: %w", what, err)
	}
	var le *ldap.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("ldap: %s: %v: %w", what, err, endpoint.ErrUnavailable)
	}
	var sentinel error
	switch le.ResultCode {
	case ldap.LDAPResultNoSuchObject:
		sentinel = endpoint.ErrNotFound
	case ldap.LDAPResultEntryAlreadyExists:
		sentinel = endpoint.ErrConflict
	case ldap.LDAPResultObjectClassViolation, ldap.LDAPResultUndefinedAttributeType, ldap.LDAPResultInvalidAttributeSyntax,
		ldap.LDAPResultConstraintViolation, ldap.LDAPResultNamingViolation, ldap.LDAPResultNotAllowedOnRDN,
		ldap.LDAPResultInvalidDNSyntax, ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultNotAllowedOnNonLeaf,
		ldap.LDAPResultObjectClassModsProhibited, ldap.LDAPResultInappropriateMatching, ldap.LDAPResultUnwillingToPerform,
		ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultFilterError, ldap.ErrorFilterCompile:
		// AD answers unwillingToPerform (53) to a password that fails its policy: permanent too.
		sentinel = endpoint.ErrInvalid
	default:
		sentinel = endpoint.ErrUnavailable
	}
	return fmt.Errorf("ldap: %s: %v: %w", what, le, sentinel)
}
