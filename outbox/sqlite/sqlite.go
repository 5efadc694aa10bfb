// Package sqlite is the SQLite adapter of outbox.Store, on the pure-Go
// modernc.org/sqlite driver: WAL journal, a busy timeout, and every write
// transaction taken with BEGIN IMMEDIATE so a claim is one atomic writer
// transaction. Several processes may share one database file.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"firedrill/outbox"
)

// Store is an outbox.Store on a SQLite file.
type Store struct {
	db  *sql.DB
	now func() time.Time
	// writeMu queues this process's writers in Go: SQLite admits one writer
	// at a time, and its busy handler (sleep and poll) lets a waiter starve
	// past the busy timeout under heavy in-process contention. Other
	// processes still meet the busy timeout.
	writeMu sync.Mutex
}

var _ outbox.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database at path.
func Open(ctx context.Context, path string, opts outbox.Options) (*Store, error) {
	opts = opts.WithDefaults()
	if path == "" {
		return nil, fmt.Errorf("%w: empty SQLite path", outbox.ErrInvalid)
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%w: SQLite database %s: directory %s does not exist", outbox.ErrUnavailable, path, dir)
		}
	}
	if !opts.Create {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: SQLite database %s does not exist (check --db, or create it with: firedrill db migrate)", outbox.ErrUnavailable, path)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.LockTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// The path is a URI filename: escape what would end it early.
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+escaped+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: SQLite database %s: %w", outbox.ErrUnavailable, path, err)
	}
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%w: SQLite database %s: %w", outbox.ErrUnavailable, path, err)
	}
	return &Store{db: db, now: time.Now}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB exposes the handle to tools that need raw SQL (fault injectors).
func (s *Store) DB() *sql.DB { return s.db }

// Migrate applies pending migrations in one immediate transaction.
func (s *Store) Migrate(ctx context.Context) error {
	return s.tx(ctx, "migrate", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS firedrill_schema_migrations (
			version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM firedrill_schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if current > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade firedrill", current, len(migrations))
		}
		for v := current + 1; v <= len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("version %d: %w", v, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO firedrill_schema_migrations (version, applied_at) VALUES (?, ?)`,
				v, s.now().UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
}

// Write stores every change's source row and event in one transaction.
func (s *Store) Write(ctx context.Context, changes []outbox.Change) ([]outbox.Written, error) {
	for _, c := range changes {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	out := make([]outbox.Written, 0, len(changes))
	err := s.tx(ctx, "write", func(tx *sql.Tx) error {
		now := s.now().UnixMicro()
		for _, c := range changes {
			var version int64
			var err error
			if c.Op == outbox.OpDelete {
				err = tx.QueryRowContext(ctx, `UPDATE search_index SET version = version + 1, deleted = 1, updated_at = ?
					WHERE entity_id = ? RETURNING version`, now, c.EntityID).Scan(&version)
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("%w: delete of entity %s: no such entity in search_index", outbox.ErrInvalid, c.EntityID)
				}
			} else {
				err = tx.QueryRowContext(ctx, `INSERT INTO search_index (entity_id, entity_type, title, body, version, deleted, updated_at)
					VALUES (?, ?, ?, ?, 1, 0, ?)
					ON CONFLICT (entity_id) DO UPDATE SET entity_type = excluded.entity_type, title = excluded.title,
						body = excluded.body, version = search_index.version + 1, deleted = 0, updated_at = excluded.updated_at
					RETURNING version`, c.EntityID, c.EntityType, c.Title, c.Body, now).Scan(&version)
			}
			if err != nil {
				return fmt.Errorf("source row: %w", err)
			}
			proj := c.Projection
			if proj == "" {
				proj = outbox.DefaultProjection
			}
			id := newID()
			if _, err := tx.ExecContext(ctx, `INSERT INTO search_outbox_events
				(id, entity_id, op, version, projection, status, attempts, next_attempt_at, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`, id, c.EntityID, string(c.Op), version, proj, now, now, now); err != nil {
				return fmt.Errorf("event: %w", err)
			}
			out = append(out, outbox.Written{EntityID: c.EntityID, EventID: id, Version: version})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Claim leases up to limit claimable events to owner in one writer transaction.
func (s *Store) Claim(ctx context.Context, owner string, limit int, lease time.Duration) (outbox.Claim, error) {
	cl := outbox.Claim{Owner: owner, BatchID: newID()}
	err := s.tx(ctx, "claim", func(tx *sql.Tx) error {
		now := s.now()
		ids, reclaimed, err := claimable(ctx, tx, now, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		cl.Reclaimed = reclaimed
		until := now.Add(lease)
		cl.LeaseUntil = time.UnixMicro(until.UnixMicro())
		rows, err := tx.QueryContext(ctx, `UPDATE search_outbox_events SET status = 'processing', lease_owner = ?,
			claim_batch_id = ?, lease_until = ?, next_attempt_at = ?, attempts = attempts + 1, updated_at = ?
			WHERE id IN (SELECT value FROM json_each(?))
			RETURNING `+eventCols, owner, cl.BatchID, until.UnixMicro(), until.UnixMicro(), now.UnixMicro(), jsonArray(ids))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ev, err := scanEvent(rows)
			if err != nil {
				return err
			}
			cl.Events = append(cl.Events, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return outbox.Claim{}, err
	}
	// RETURNING has no order; ids are UUIDv7, so this is claim order.
	slices.SortFunc(cl.Events, func(a, b outbox.Event) int { return strings.Compare(a.ID, b.ID) })
	return cl, nil
}

// claimable lists up to limit claimable events and counts the reclaims among them.
func claimable(ctx context.Context, tx *sql.Tx, now time.Time, limit int) ([]string, int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, status FROM search_outbox_events
		WHERE status IN ('pending', 'processing') AND next_attempt_at <= ?
		ORDER BY next_attempt_at, id LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	ids := make([]string, 0, limit)
	reclaimed := 0
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return nil, 0, err
		}
		ids = append(ids, id)
		if status == string(outbox.StatusProcessing) {
			reclaimed++
		}
	}
	return ids, reclaimed, rows.Err()
}

// Sources loads the source rows of entityIDs.
func (s *Store) Sources(ctx context.Context, entityIDs []string) (map[string]outbox.Document, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT entity_id, entity_type, title, body, version, deleted, updated_at
		FROM search_index WHERE entity_id IN (SELECT value FROM json_each(?))`, jsonArray(entityIDs))
	if err != nil {
		return nil, dbErr("load sources", err)
	}
	defer rows.Close()
	docs := make(map[string]outbox.Document, len(entityIDs))
	for rows.Next() {
		var d outbox.Document
		var updated int64
		if err := rows.Scan(&d.EntityID, &d.EntityType, &d.Title, &d.Body, &d.Version, &d.Deleted, &updated); err != nil {
			return nil, dbErr("load sources: scan", err)
		}
		d.UpdatedAt = time.UnixMicro(updated)
		docs[d.EntityID] = d
	}
	return docs, dbErr("load sources", rows.Err())
}

type ackRow struct {
	ID     string `json:"id"`
	At     int64  `json:"at"` // unix µs: now + the outcome's delay
	Reason string `json:"reason"`
	Err    string `json:"err"`
}

// Ack applies outcomes fenced by owner and batch in one transaction.
func (s *Store) Ack(ctx context.Context, c outbox.Claim, outcomes []outbox.Outcome) (outbox.AckResult, error) {
	groups := map[outbox.OutcomeKind][]ackRow{}
	for _, o := range outcomes {
		switch o.Kind {
		case outbox.OutcomeDone, outbox.OutcomeRelease, outbox.OutcomeRetry, outbox.OutcomeFail:
		default:
			return outbox.AckResult{}, fmt.Errorf("%w: ack of %s: unknown outcome kind %d", outbox.ErrInvalid, o.EventID, o.Kind)
		}
		at := s.now()
		if o.Kind == outbox.OutcomeRetry || o.Kind == outbox.OutcomeFail {
			at = at.Add(max(o.Delay, 0))
		}
		groups[o.Kind] = append(groups[o.Kind], ackRow{ID: o.EventID, At: at.UnixMicro(), Reason: string(o.Reason), Err: outbox.TruncateError(o.Error)})
	}
	sets := map[outbox.OutcomeKind]string{
		outbox.OutcomeDone:    `status = 'done', lease_until = NULL`,
		outbox.OutcomeRelease: `status = 'pending', attempts = max(attempts - 1, 0), next_attempt_at = u.at, lease_until = NULL`,
		outbox.OutcomeRetry:   `status = 'pending', next_attempt_at = u.at, last_reason = u.reason, last_error = u.err, lease_until = NULL`,
		outbox.OutcomeFail:    `status = 'failed', next_attempt_at = u.at, last_reason = u.reason, last_error = u.err, lease_until = NULL`,
	}
	applied := make(map[string]bool, len(outcomes))
	err := s.tx(ctx, "ack", func(tx *sql.Tx) error {
		now := s.now().UnixMicro()
		for kind, rowsIn := range groups {
			payload, err := json.Marshal(rowsIn)
			if err != nil {
				return err
			}
			ids, err := queryIDs(ctx, tx, `UPDATE search_outbox_events SET `+sets[kind]+`, updated_at = ?
				FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.at') AS at,
					json_extract(value, '$.reason') AS reason, json_extract(value, '$.err') AS err FROM json_each(?)) AS u
				WHERE search_outbox_events.id = u.id AND claim_batch_id = ? AND lease_owner = ? AND status = 'processing'
				RETURNING search_outbox_events.id`, now, string(payload), c.BatchID, c.Owner)
			if err != nil {
				return err
			}
			for _, id := range ids {
				applied[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return outbox.AckResult{}, err
	}
	res := outbox.AckResult{Applied: len(applied)}
	for _, o := range outcomes {
		if !applied[o.EventID] {
			res.Refused = append(res.Refused, o.EventID)
		}
	}
	return res, nil
}

// queryIDs runs a statement returning one id per row.
func queryIDs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Stats counts events by status and dead letters by reason.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	st := outbox.Stats{Counts: map[outbox.Status]int64{}, FailedByReason: map[outbox.Reason]int64{}}
	rows, err := s.db.QueryContext(ctx, `SELECT status, CASE WHEN status = 'failed' THEN coalesce(last_reason, '') ELSE '' END, count(*)
		FROM search_outbox_events GROUP BY 1, 2`)
	if err != nil {
		return st, dbErr("stats", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status, reason string
		var n int64
		if err := rows.Scan(&status, &reason, &n); err != nil {
			return st, dbErr("stats: scan", err)
		}
		st.Counts[outbox.Status(status)] += n
		if outbox.Status(status) == outbox.StatusFailed {
			st.FailedByReason[outbox.Reason(reason)] += n
		}
	}
	if err := rows.Err(); err != nil {
		return st, dbErr("stats", err)
	}
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(created_at) FROM search_outbox_events
		WHERE status IN ('pending', 'processing')`).Scan(&oldest); err != nil {
		return st, dbErr("stats: oldest pending", err)
	}
	if oldest.Valid {
		if age := s.now().Sub(time.UnixMicro(oldest.Int64)); age > 0 {
			st.OldestPendingAge = age
		}
	}
	return st, nil
}

// Backlog counts pending and processing events and the oldest one's age.
func (s *Store) Backlog(ctx context.Context) (int64, time.Duration, error) {
	var n int64
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM search_outbox_events
		WHERE status IN ('pending', 'processing')`).Scan(&n, &oldest)
	if err != nil {
		return 0, 0, dbErr("backlog", err)
	}
	if !oldest.Valid {
		return n, 0, nil
	}
	return n, max(s.now().Sub(time.UnixMicro(oldest.Int64)), 0), nil
}

// Failed lists dead letters, oldest first.
func (s *Store) Failed(ctx context.Context, f outbox.FailedFilter) ([]outbox.Event, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+eventCols+` FROM search_outbox_events
		WHERE status = 'failed' AND (? = '' OR last_reason = ?) ORDER BY created_at, id LIMIT ?`,
		string(f.Reason), string(f.Reason), limit)
	if err != nil {
		return nil, dbErr("list failed", err)
	}
	defer rows.Close()
	var evs []outbox.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, dbErr("list failed: scan", err)
		}
		evs = append(evs, ev)
	}
	return evs, dbErr("list failed", rows.Err())
}

// Replay re-queues dead letters.
func (s *Store) Replay(ctx context.Context, reason outbox.Reason, dryRun bool) (int, error) {
	if dryRun {
		var n int
		err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM search_outbox_events
			WHERE status = 'failed' AND (? = '' OR last_reason = ?)`, string(reason), string(reason)).Scan(&n)
		return n, dbErr("replay: count", err)
	}
	var n int64
	err := s.tx(ctx, "replay", func(tx *sql.Tx) error {
		now := s.now().UnixMicro()
		res, err := tx.ExecContext(ctx, `UPDATE search_outbox_events SET status = 'pending', attempts = 0,
			next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, claim_batch_id = NULL, updated_at = ?
			WHERE status = 'failed' AND (? = '' OR last_reason = ?)`, now, now, string(reason), string(reason))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// tx runs fn in an immediate transaction and maps errors.
func (s *Store) tx(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return dbErr(op, err)
	}
	return dbErr(op+": commit", tx.Commit())
}

const eventCols = `id, entity_id, op, version, projection, status, attempts, next_attempt_at,
	coalesce(lease_owner, ''), coalesce(lease_until, 0), coalesce(claim_batch_id, ''),
	coalesce(last_reason, ''), coalesce(last_error, ''), created_at, updated_at`

type scanner interface{ Scan(...any) error }

func scanEvent(r scanner) (outbox.Event, error) {
	var ev outbox.Event
	var next, until, created, updated int64
	err := r.Scan(&ev.ID, &ev.EntityID, &ev.Op, &ev.Version, &ev.Projection, &ev.Status, &ev.Attempts, &next,
		&ev.LeaseOwner, &until, &ev.ClaimBatchID, &ev.LastReason, &ev.LastError, &created, &updated)
	ev.NextAttemptAt = time.UnixMicro(next)
	if until != 0 {
		ev.LeaseUntil = time.UnixMicro(until)
	}
	ev.CreatedAt = time.UnixMicro(created)
	ev.UpdatedAt = time.UnixMicro(updated)
	return ev, err
}

func jsonArray(ids []string) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// dbErr maps SQLite errors to the outbox sentinels, keeping the cause.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, outbox.ErrInvalid) || errors.Is(err, outbox.ErrLocked) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%s: %w: %w", op, outbox.ErrLocked, err)
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("%s: %w: %w", op, outbox.ErrUnavailable, err)
		}
	}
	if strings.Contains(err.Error(), "no such table") {
		return fmt.Errorf("%s: %w: %w", op, outbox.ErrNoSchema, err)
	}
	if strings.Contains(err.Error(), "database is locked") {
		return fmt.Errorf("%s: %w: %w", op, outbox.ErrLocked, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
