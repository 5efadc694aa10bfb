// Package outbox holds the domain of the transactional outbox: source documents,
// their events, the reasons an event can be retried or dead-lettered, and the
// Store that claims, leases and acknowledges events. Adapters live in
// outbox/sqlite and outbox/postgres; both pass the suite in outbox/outboxtest.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Op is what an event asks the projection to do with its entity.
type Op string

// The ops an event may carry.
const (
	OpUpsert Op = "upsert"
	OpDelete Op = "delete"
)

// ParseOp returns the op named s or an error naming the allowed values.
func ParseOp(s string) (Op, error) {
	switch Op(s) {
	case OpUpsert, OpDelete:
		return Op(s), nil
	}
	return "", fmt.Errorf("%w: unknown op %q (allowed: upsert, delete)", ErrInvalid, s)
}

// Status is the lifecycle state of an event.
type Status string

// The statuses of an event. Done and failed are terminal until a replay.
const (
	StatusPending    Status = "pending"
	StatusProcessing Status = "processing"
	StatusDone       Status = "done"
	StatusFailed     Status = "failed"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusPending, StatusProcessing, StatusDone, StatusFailed}

// DefaultProjection is the projection an event belongs to when the writer names none.
const DefaultProjection = "search"

// Document is a row of search_index: the source of truth the projection copies.
type Document struct {
	EntityID   string
	EntityType string
	Title      string
	Body       string
	Version    int64
	Deleted    bool
	UpdatedAt  time.Time
}

// Event is a row of search_outbox_events.
type Event struct {
	ID            string
	EntityID      string
	Op            Op
	Version       int64
	Projection    string
	Status        Status
	Attempts      int
	NextAttemptAt time.Time
	LeaseOwner    string
	LeaseUntil    time.Time
	ClaimBatchID  string
	LastReason    Reason
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Change is one write of the application: the source row and its event are
// stored in one transaction. The store assigns the next version of the entity.
type Change struct {
	EntityID   string
	EntityType string
	Title      string
	Body       string
	Op         Op
	Projection string // DefaultProjection when empty
}

// Validate reports the first problem of c, naming the field.
func (c Change) Validate() error {
	if c.EntityID == "" {
		return fmt.Errorf("%w: change has no entity_id", ErrInvalid)
	}
	if c.Projection != "" && !validProjection(c.Projection) {
		return fmt.Errorf("%w: entity %s: projection %q: want lowercase letters, digits, '.', '_' or '-' (it becomes part of an index name)", ErrInvalid, c.EntityID, c.Projection)
	}
	if _, err := ParseOp(string(c.Op)); err != nil {
		return fmt.Errorf("entity %s: %w", c.EntityID, err)
	}
	if c.Op == OpUpsert && c.EntityType == "" {
		return fmt.Errorf("%w: entity %s: upsert needs an entity_type", ErrInvalid, c.EntityID)
	}
	return nil
}

// Written is what the store assigned to one change.
type Written struct {
	EntityID string
	EventID  string
	Version  int64
}

// Claim is a batch of events leased to one owner until LeaseUntil.
type Claim struct {
	Owner      string
	BatchID    string
	LeaseUntil time.Time
	Events     []Event
	// Reclaimed counts the events whose previous lease had expired.
	Reclaimed int
}

// Outcome is the decision the projector took for one claimed event.
type Outcome struct {
	EventID string
	Kind    OutcomeKind
	Reason  Reason // retry and fail only
	Error   string // retry and fail only, truncated by the store
	// Delay is how long a retried event waits before it is claimable
	// again, measured on the database's clock (retry only).
	Delay time.Duration
}

// OutcomeKind is done, retry or fail.
type OutcomeKind int

// The outcome kinds.
const (
	OutcomeDone OutcomeKind = iota + 1
	OutcomeRetry
	OutcomeFail
	// OutcomeRelease hands the event back untouched (shutdown): pending now,
	// and the attempt the claim counted is given back.
	OutcomeRelease
)

// AckResult says how many outcomes were applied and how many were refused
// because the caller no longer owned the event (its lease was reclaimed).
type AckResult struct {
	Applied int
	// Refused lists the events whose ack was fenced off.
	Refused []string
}

// Stats summarises the outbox.
type Stats struct {
	Counts map[Status]int64
	// OldestPendingAge is the age of the oldest pending or processing event, 0 if none.
	OldestPendingAge time.Duration
	// FailedByReason counts dead letters by their last reason.
	FailedByReason map[Reason]int64
}

// FailedFilter selects dead letters.
type FailedFilter struct {
	Reason Reason // all reasons when empty
	Limit  int    // no limit when 0
}

// Store is the outbox persistence every adapter implements.
type Store interface {
	// Migrate applies the versioned schema; it is idempotent.
	Migrate(ctx context.Context) error
	// Write stores each change's source row and event in one transaction.
	// Nothing is written when any change is invalid.
	Write(ctx context.Context, changes []Change) ([]Written, error)
	// Claim leases up to limit claimable events (pending and due, or
	// processing with an expired lease) to owner. It returns ErrLocked when
	// the table could not be locked in time.
	Claim(ctx context.Context, owner string, limit int, lease time.Duration) (Claim, error)
	// Sources loads the search_index rows of the given entities; missing
	// entities are absent from the map.
	Sources(ctx context.Context, entityIDs []string) (map[string]Document, error)
	// Ack applies outcomes to events of claim c, fenced by owner and batch.
	Ack(ctx context.Context, c Claim, outcomes []Outcome) (AckResult, error)
	// Stats counts events by status.
	Stats(ctx context.Context) (Stats, error)
	// Backlog counts pending and processing events and the age of the
	// oldest, using the claimable index only (cheap enough to poll).
	Backlog(ctx context.Context) (int64, time.Duration, error)
	// Failed lists dead letters, oldest first.
	Failed(ctx context.Context, f FailedFilter) ([]Event, error)
	// Replay re-queues dead letters (all, or of one reason) with their
	// attempts reset, and returns how many it re-queued (or would, on dryRun).
	Replay(ctx context.Context, reason Reason, dryRun bool) (int, error)
	Close() error
}

// Errors every adapter maps its driver's errors to.
var (
	// ErrInvalid is bad input: an unknown op, a missing field.
	ErrInvalid = errors.New("invalid input")
	// ErrLocked is a lock (or busy) timeout while claiming.
	ErrLocked = errors.New("outbox table locked")
	// ErrUnavailable is a database that cannot be reached.
	ErrUnavailable = errors.New("database unavailable")
	// ErrNoSchema is a database without the outbox tables.
	ErrNoSchema = errors.New("outbox schema missing (run: firedrill db migrate)")
)

// MaxErrorLen bounds the last_error text stored for an event.
const MaxErrorLen = 2000

// validProjection reports whether p can be part of an index name.
func validProjection(p string) bool {
	for _, r := range p {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '.' && r != '_' && r != '-' {
			return false
		}
	}
	return p[0] != '.' && p[0] != '_' && p[0] != '-'
}

// TruncateError shortens s to MaxErrorLen bytes on a rune boundary and
// drops NUL bytes, which PostgreSQL text refuses.
func TruncateError(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= MaxErrorLen {
		return s
	}
	s = s[:MaxErrorLen]
	for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
		s = s[:len(s)-1]
	}
	return s
}

// Options tune an adapter. Zero values take the defaults.
type Options struct {
	// LockTimeout bounds how long a claim waits for a table or row lock
	// (PostgreSQL lock_timeout, SQLite busy timeout). Default 2s.
	LockTimeout time.Duration
	// MaxConns bounds the connection pool. Default 8.
	MaxConns int
	// Create lets Open create a missing SQLite file. Read-only commands
	// leave it false so a mistyped path is an error, not a new empty file.
	Create bool
}

// WithDefaults fills zero fields.
func (o Options) WithDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 8
	}
	return o
}
