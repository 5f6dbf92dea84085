// Package collector turns records from identity sources into published SCIM Stream messages.
package collector

import (
	"context"
	"time"

	"github.com/scim-stream/scim-stream/wire"
)

// Record is one raw object from a source, before mapping.
type Record struct {
	// ID is the source's stable identifier (Entra object id, HR person id). It keys the collector state.
	ID string
	// Data is the raw object as decoded JSON; the mapper reads source paths from it.
	Data map[string]any
	// Removed means the source says the object is gone (Entra hard delete). A soft delete is not a removal:
	// the source reports it as a change (accountEnabled false).
	Removed bool
	// Who and when, when the source knows (Entra audit log); empty otherwise.
	InitiatedByID    string
	InitiatedByUPN   string
	ActivityDateTime time.Time
	// Groups and Roles are the memberships the source resolved (Entra: nested groups flattened, app roles
	// through groups included). HR sources leave them empty.
	Groups []Group
	Roles  []Role
}

// Group is a group membership as the source sees it.
type Group struct {
	ID          string
	DisplayName string
}

// Role is an application role assignment: Application is the application's display name, AppID its object id
// (rules may address either).
type Role struct {
	Application string
	AppID       string
	Display     string
	Value       string
}

// Checkpoints is the durable key/value space a source uses for its own watermarks (delta links, last run).
// The pipeline backs it with the collector's state bucket.
type Checkpoints interface {
	Get(ctx context.Context, key string) ([]byte, error) // nil, nil when absent
	Put(ctx context.Context, key string, value []byte) error
}

// Source is one collector source (Entra tenant, HR tenant). Sources never publish: they emit records and the
// pipeline decides what changed.
type Source interface {
	// Type is the collector type of this source.
	Type() wire.Type
	// Collect emits the records that may have changed since the last successful collection (a full source
	// emits all of them and sets full=true in its return). emit's error aborts the collection and is returned.
	// Checkpoints given to Collect are committed by the source only after emit returned for every record, so a
	// crash mid-collection repeats the collection rather than losing changes.
	Collect(ctx context.Context, cp Checkpoints, emit func(Record) error) (full bool, err error)
	// Policy declares what the source's kind of system means for the pipeline (leavers, lifecycle).
	Policy() Policy
}

// Policy is what a source declares about its kind of system, so that the pipeline applies it without branching
// on the collector type.
type Policy struct {
	// Leavers is what a complete collection that no longer lists a known user means.
	Leavers Leavers
	// Lifecycle: mapped users carry startDate and endDate (joiners, movers, leavers by date): a user is published
	// from startDate minus the tenant's general.hr.pre_activate_days on, and is inactive after endDate.
	Lifecycle bool
}

// Leavers is a Policy's treatment of users a complete collection no longer lists.
type Leavers int

const (
	// LeaversDeleted: the user was deleted at the source (a directory's full resync after a gap no longer lists
	// it): every channel the user was in gets deleteUser.
	LeaversDeleted Leavers = iota
	// LeaversDeactivated: the person left (an HR system no longer lists them): the user is published inactive,
	// never deleted, so that a wrong query cannot wipe accounts.
	LeaversDeactivated
)
