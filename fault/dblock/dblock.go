// Package dblock injects db_lock: it holds a lock on the outbox table, from
// a connection of its own, for as long as the fault lasts, so the
// projector's claims wait and time out (outbox.ErrLocked, reason db_lock).
//
// On PostgreSQL the lock is LOCK TABLE ... IN ACCESS EXCLUSIVE MODE in a
// transaction held open on a dedicated pgx connection; on SQLite it is
// BEGIN EXCLUSIVE on a dedicated connection, which takes the database's
// write lock (the outbox stores begin every write with BEGIN IMMEDIATE).
// Apply returns once the lock is held; Revert rolls back and closes.
//
// A lock dies with the connection that holds it, so a crashed holder
// releases it — unless its PostgreSQL session lingers (a half-open TCP
// connection the server has not noticed yet). The fault is therefore journaled
// before the lock is taken, with Data {"dsn" (a SQLite file as
// sqlite:ABSOLUTE_PATH), "table", and for PostgreSQL "schema",
// "backend_pid", "backend_start"}, and Repair ends that backend
// with pg_terminate_backend if it is still the same session and still
// holds a lock on the table. For SQLite, Repair checks that the database
// takes a write lock within a few seconds.
//
// The journaled DSN never holds a password: a DSN with one is stored with
// the password (and sslpassword) removed, since a repair must connect and
// a redacted placeholder cannot. Repair connects with that DSN, and pgx
// takes the password from the environment at repair time — PGPASSWORD, or
// the PGPASSFILE / ~/.pgpass file — as libpq does. Give the repairing
// process the same PGPASSWORD the faulting one had.
package dblock

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"firedrill/fault"
	"firedrill/store"
)

// DefaultTable is the table locked when Config.Table is empty.
const DefaultTable = "search_outbox_events"

// lockWait is how long Apply waits for the sessions using the table (a
// projector's claim) to let go before it gives up taking the lock.
const lockWait = 5 * time.Second

// Config says which table of which database to lock.
type Config struct {
	// DSN is the outbox database: a postgres:// URL, a key=value string
	// with host=, or a SQLite path (sqlite:PATH, file:PATH or a bare path),
	// as store.Parse reads it.
	DSN string
	// Table is the table to lock, optionally schema-qualified
	// (PostgreSQL); DefaultTable when empty. SQLite locks the whole
	// database and only checks the table exists.
	Table string
	// Metrics counts injections; nil counts nothing.
	Metrics *fault.Metrics
	// Journal, when set, records the lock before it is taken.
	Journal *fault.Journal
}

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// Validate names the first problem of c.
func (c Config) Validate() error {
	kind, dsn, err := store.Parse(c.DSN)
	if err != nil {
		return fmt.Errorf("%w: DSN: %w", fault.ErrInvalid, err)
	}
	if kind == store.KindPostgres {
		if _, err := pgx.ParseConfig(dsn); err != nil {
			// pgx redacts the password in its parse errors.
			return fmt.Errorf("%w: DSN: malformed PostgreSQL DSN: %w", fault.ErrInvalid, err)
		}
	}
	if c.Table != "" && !tableName.MatchString(c.Table) {
		return fmt.Errorf("%w: Table %q: want a table name (letters, digits, '_'), optionally schema-qualified, e.g. %s", fault.ErrInvalid, c.Table, DefaultTable)
	}
	return nil
}

func (c Config) table() string {
	if c.Table == "" {
		return DefaultTable
	}
	return c.Table
}

// Injector locks one table.
type Injector struct {
	cfg Config
}

var _ fault.Injector = (*Injector)(nil)

// New validates cfg and returns its injector. Nothing is connected yet.
func New(cfg Config) (*Injector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Injector{cfg: cfg}, nil
}

// Apply connects, takes the lock and returns once it is held. The Revert
// releases it and closes the connection.
func (in *Injector) Apply(ctx context.Context) (fault.Revert, error) {
	if err := in.cfg.Validate(); err != nil {
		return nil, err
	}
	kind, dsn, _ := store.Parse(in.cfg.DSN)
	var (
		revert fault.Revert
		err    error
	)
	if kind == store.KindPostgres {
		revert, err = in.applyPostgres(ctx, dsn)
	} else {
		revert, err = in.applySQLite(ctx, dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", fault.KindDBLock, store.Redact(in.cfg.DSN), err)
	}
	in.cfg.Metrics.Inc(fault.KindDBLock, 1)
	return revert, nil
}

// journal records the lock when a journal is configured and returns the
// function that removes the record.
func (in *Injector) journal(data map[string]string) (func() error, error) {
	if in.cfg.Journal == nil {
		return func() error { return nil }, nil
	}
	_, remove, err := in.cfg.Journal.Add(fault.Record{
		Kind:   fault.KindDBLock,
		Target: store.Redact(in.cfg.DSN) + " table " + in.cfg.table(),
		Data:   data,
	})
	if err != nil {
		return nil, err
	}
	return remove, nil
}

// kvPassword matches password= and sslpassword= in a key=value DSN.
var kvPassword = regexp.MustCompile(`(?i)(^|\s)(ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// withoutPassword returns dsn with its password (and sslpassword) removed,
// fit for the journal.
func withoutPassword(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return strings.Join(strings.Fields(kvPassword.ReplaceAllString(dsn, "$1")), " ")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return store.Redact(dsn)
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") || q.Has("sslpassword") {
		q.Del("password")
		q.Del("sslpassword")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
