package collector

import (
	"errors"
	"fmt"

	"github.com/scim-stream/scim-stream/config"
	"github.com/scim-stream/scim-stream/dynamics"
	"github.com/scim-stream/scim-stream/mapper"
	"github.com/scim-stream/scim-stream/rules"
	"github.com/scim-stream/scim-stream/wire"
)

// Tenant is one (tenant, collector type) compiled from a configuration snapshot. A collection runs with the
// Tenant it started with; a hot reload compiles a new one for the next collection.
type Tenant struct {
	Name   string
	Type   wire.Type
	Config *config.Tenant

	Mapper   *mapper.Mapper
	Router   *rules.Router
	Dynamics *dynamics.Set
	// InitialLoad selects who an initial load republishes (do_initial_load_filter); nil = everyone.
	InitialLoad *rules.Filter
}

// Compile compiles a tenant's mapper, rules and dynamics. All errors are returned together, each a *KeyError
// naming the tenant and the key.
func Compile(name string, typ wire.Type, t *config.Tenant) (*Tenant, error) {
	ct := &Tenant{Name: name, Type: typ, Config: t}
	prefix := fmt.Sprintf("%s.%s", typ.Key(), name)
	var errs []error
	var err error
	if ct.Mapper, err = mapper.Compile(typ, t.Mapper); err != nil {
		errs = append(errs, &KeyError{Key: prefix + ".mapper", Err: err, part: partMapper})
	}
	if ct.Router, err = rules.Compile(t.Streams); err != nil {
		errs = append(errs, &KeyError{Key: prefix, Err: err, part: partRules})
	}
	if ct.Dynamics, err = dynamics.Compile(t.Dynamics); err != nil {
		errs = append(errs, &KeyError{Key: prefix, Err: err, part: partRules})
	}
	if f := t.General.DoInitialLoadFilter; f != "" {
		if ct.InitialLoad, err = rules.CompileFilter(f); err != nil {
			errs = append(errs, &KeyError{Key: prefix + ".general.do_initial_load_filter", Err: err, part: partFilter})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ct, nil
}

// KeyError is one problem Compile found: the configuration key it is about and what is wrong there.
type KeyError struct {
	Key  string
	Err  error
	part compilePart
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// compilePart is what of a tenant a KeyError comes from, for CheckConfig's file:line reporting.
type compilePart int

const (
	partMapper compilePart = iota
	partRules
	partFilter
)

// Needs is what the tenant's stream rules, dynamics and initial-load filter read beyond the user's attributes.
func (t *Tenant) Needs() rules.Needs {
	n := t.Router.Needs().Merge(t.Dynamics.Needs())
	if t.InitialLoad != nil {
		n = n.Merge(t.InitialLoad.Needs())
	}
	return n
}
