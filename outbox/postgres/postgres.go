// Package postgres is the PostgreSQL adapter of outbox.Store, on pgx.
// Claims use FOR UPDATE SKIP LOCKED so any number of projectors can share
// one database; every ack is fenced by owner and claim batch.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"firedrill/outbox"
)

// Store is an outbox.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

var _ outbox.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value string)
// and checks that it answers.
func Open(ctx context.Context, dsn string, opts outbox.Options) (*Store, error) {
	opts = opts.WithDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("%w: malformed PostgreSQL DSN: %w", outbox.ErrInvalid, err)
	}
	cfg.MaxConns = int32(opts.MaxConns)
	// lock_timeout makes a claim against a locked table fail fast (55P03)
	// instead of hanging; the projector counts it and backs off.
	if _, set := cfg.ConnConfig.RuntimeParams["lock_timeout"]; !set {
		cfg.ConnConfig.RuntimeParams["lock_timeout"] = fmt.Sprintf("%d", opts.LockTimeout.Milliseconds())
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "firedrill"
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", outbox.ErrUnavailable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%w: %s:%d: %w", outbox.ErrUnavailable, cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return &Store{pool: pool}, nil
}

// Close releases the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool exposes the connection pool to tools that need raw SQL (fault injectors, benchmarks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Migrate applies pending migrations under an advisory lock, so concurrent
// starts are safe.
func (s *Store) Migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbErr("migrate", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7461636810)`); err != nil {
		return dbErr("migrate: lock", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS firedrill_schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return dbErr("migrate", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM firedrill_schema_migrations`).Scan(&current); err != nil {
		return dbErr("migrate", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate: database schema version %d is newer than this binary knows (%d): upgrade firedrill", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return dbErr(fmt.Sprintf("migrate: version %d", v), err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO firedrill_schema_migrations (version) VALUES ($1)`, v); err != nil {
			return dbErr("migrate", err)
		}
	}
	return dbErr("migrate: commit", tx.Commit(ctx))
}

// Write stores every change's source row and event in one transaction.
func (s *Store) Write(ctx context.Context, changes []outbox.Change) ([]outbox.Written, error) {
	for _, c := range changes {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, dbErr("write", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	out := make([]outbox.Written, 0, len(changes))
	for _, c := range changes {
		var version int64
		if c.Op == outbox.OpDelete {
			err = tx.QueryRow(ctx, `UPDATE search_index SET version = version + 1, deleted = true, updated_at = now()
				WHERE entity_id = $1 RETURNING version`, c.EntityID).Scan(&version)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("%w: delete of entity %s: no such entity in search_index", outbox.ErrInvalid, c.EntityID)
			}
		} else {
			err = tx.QueryRow(ctx, `INSERT INTO search_index (entity_id, entity_type, title, body, version, deleted, updated_at)
				VALUES ($1, $2, $3, $4, 1, false, now())
				ON CONFLICT (entity_id) DO UPDATE SET entity_type = EXCLUDED.entity_type, title = EXCLUDED.title,
					body = EXCLUDED.body, version = search_index.version + 1, deleted = false, updated_at = now()
				RETURNING version`, c.EntityID, c.EntityType, c.Title, c.Body).Scan(&version)
		}
		if err != nil {
			return nil, dbErr("write source row", err)
		}
		id := newID()
		proj := c.Projection
		if proj == "" {
			proj = outbox.DefaultProjection
		}
		if _, err := tx.Exec(ctx, `INSERT INTO search_outbox_events (id, entity_id, op, version, projection)
			VALUES ($1, $2, $3, $4, $5)`, id, c.EntityID, string(c.Op), version, proj); err != nil {
			return nil, dbErr("write event", err)
		}
		out = append(out, outbox.Written{EntityID: c.EntityID, EventID: id, Version: version})
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, dbErr("write: commit", err)
	}
	return out, nil
}

// Claim leases up to limit claimable events to owner in one statement.
func (s *Store) Claim(ctx context.Context, owner string, limit int, lease time.Duration) (outbox.Claim, error) {
	batch := newID()
	rows, err := s.pool.Query(ctx, `WITH c AS (
			SELECT id, status FROM search_outbox_events
			WHERE status IN ('pending', 'processing') AND next_attempt_at <= now()
			ORDER BY next_attempt_at, id
			LIMIT $1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE search_outbox_events e SET status = 'processing', lease_owner = $2, claim_batch_id = $3,
			lease_until = now() + $4 * interval '1 microsecond', next_attempt_at = now() + $4 * interval '1 microsecond',
			attempts = e.attempts + 1, updated_at = now()
		FROM c WHERE e.id = c.id
		RETURNING `+eventCols("e")+`, c.status`, limit, owner, batch, lease.Microseconds())
	if err != nil {
		return outbox.Claim{}, dbErr("claim", err)
	}
	cl := outbox.Claim{Owner: owner, BatchID: batch}
	for rows.Next() {
		var ev outbox.Event
		var prev string
		if err := rows.Scan(append(eventDest(&ev), &prev)...); err != nil {
			rows.Close()
			return outbox.Claim{}, dbErr("claim: scan", err)
		}
		if prev == string(outbox.StatusProcessing) {
			cl.Reclaimed++
		}
		cl.LeaseUntil = ev.LeaseUntil
		cl.Events = append(cl.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return outbox.Claim{}, dbErr("claim", err)
	}
	// RETURNING has no order; ids are UUIDv7, so this is claim order.
	slices.SortFunc(cl.Events, func(a, b outbox.Event) int { return strings.Compare(a.ID, b.ID) })
	return cl, nil
}

// Sources loads the source rows of entityIDs.
func (s *Store) Sources(ctx context.Context, entityIDs []string) (map[string]outbox.Document, error) {
	rows, err := s.pool.Query(ctx, `SELECT entity_id, entity_type, title, body, version, deleted, updated_at
		FROM search_index WHERE entity_id = ANY($1)`, entityIDs)
	if err != nil {
		return nil, dbErr("load sources", err)
	}
	defer rows.Close()
	docs := make(map[string]outbox.Document, len(entityIDs))
	for rows.Next() {
		var d outbox.Document
		if err := rows.Scan(&d.EntityID, &d.EntityType, &d.Title, &d.Body, &d.Version, &d.Deleted, &d.UpdatedAt); err != nil {
			return nil, dbErr("load sources: scan", err)
		}
		docs[d.EntityID] = d
	}
	return docs, dbErr("load sources", rows.Err())
}

// Ack applies outcomes fenced by owner and batch, in one implicit
// transaction (one pipeline, one Sync).
func (s *Store) Ack(ctx context.Context, c outbox.Claim, outcomes []outbox.Outcome) (outbox.AckResult, error) {
	var done, release []string
	var retry, fail outcomeCols
	for _, o := range outcomes {
		switch o.Kind {
		case outbox.OutcomeDone:
			done = append(done, o.EventID)
		case outbox.OutcomeRelease:
			release = append(release, o.EventID)
		case outbox.OutcomeRetry:
			retry.add(o)
		case outbox.OutcomeFail:
			fail.add(o)
		default:
			return outbox.AckResult{}, fmt.Errorf("%w: ack of %s: unknown outcome kind %d", outbox.ErrInvalid, o.EventID, o.Kind)
		}
	}
	const fence = ` AND e.claim_batch_id = $2 AND e.lease_owner = $3 AND e.status = 'processing' RETURNING e.id`
	b := &pgx.Batch{}
	applied := make(map[string]bool, len(outcomes))
	collect := func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			applied[id] = true
		}
		return rows.Err()
	}
	queue := func(sql string, args ...any) {
		b.Queue(sql, args...).Query(collect)
	}
	if len(done) > 0 {
		queue(`UPDATE search_outbox_events e SET status = 'done', lease_until = NULL, updated_at = now()
			WHERE e.id = ANY($1)`+fence, done, c.BatchID, c.Owner)
	}
	if len(release) > 0 {
		queue(`UPDATE search_outbox_events e SET status = 'pending', attempts = greatest(e.attempts - 1, 0),
			next_attempt_at = now(), lease_until = NULL, updated_at = now()
			WHERE e.id = ANY($1)`+fence, release, c.BatchID, c.Owner)
	}
	for _, g := range []struct {
		status string
		cols   outcomeCols
	}{{"pending", retry}, {"failed", fail}} {
		if len(g.cols.ids) == 0 {
			continue
		}
		queue(`UPDATE search_outbox_events e SET status = '`+g.status+`',
			next_attempt_at = now() + u.delay * interval '1 microsecond',
			last_reason = u.reason, last_error = u.err, lease_until = NULL, updated_at = now()
			FROM unnest($1::uuid[], $4::bigint[], $5::text[], $6::text[]) AS u(id, delay, reason, err)
			WHERE e.id = u.id`+fence, g.cols.ids, c.BatchID, c.Owner, g.cols.delay, g.cols.reason, g.cols.err)
	}
	if b.Len() == 0 {
		return outbox.AckResult{}, nil
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return outbox.AckResult{}, dbErr("ack", err)
	}
	res := outbox.AckResult{Applied: len(applied)}
	for _, o := range outcomes {
		if !applied[o.EventID] {
			res.Refused = append(res.Refused, o.EventID)
		}
	}
	return res, nil
}

type outcomeCols struct {
	ids, reason, err []string
	delay            []int64 // microseconds
}

func (c *outcomeCols) add(o outbox.Outcome) {
	c.ids = append(c.ids, o.EventID)
	c.delay = append(c.delay, max(o.Delay, 0).Microseconds())
	c.reason = append(c.reason, string(o.Reason))
	c.err = append(c.err, outbox.TruncateError(o.Error))
}

// Stats counts events by status and dead letters by reason.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	st := outbox.Stats{Counts: map[outbox.Status]int64{}, FailedByReason: map[outbox.Reason]int64{}}
	rows, err := s.pool.Query(ctx, `SELECT status, CASE WHEN status = 'failed' THEN coalesce(last_reason, '') ELSE '' END, count(*)
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
	var age *float64
	if err := s.pool.QueryRow(ctx, `SELECT extract(epoch FROM now() - min(created_at))::float8
		FROM search_outbox_events WHERE status IN ('pending', 'processing')`).Scan(&age); err != nil {
		return st, dbErr("stats: oldest pending", err)
	}
	if age != nil && *age > 0 {
		st.OldestPendingAge = time.Duration(*age * float64(time.Second))
	}
	return st, nil
}

// Backlog counts pending and processing events and the oldest one's age.
func (s *Store) Backlog(ctx context.Context) (int64, time.Duration, error) {
	var n int64
	var age *float64
	err := s.pool.QueryRow(ctx, `SELECT count(*), extract(epoch FROM now() - min(created_at))::float8
		FROM search_outbox_events WHERE status IN ('pending', 'processing')`).Scan(&n, &age)
	if err != nil {
		return 0, 0, dbErr("backlog", err)
	}
	if age == nil || *age < 0 {
		return n, 0, nil
	}
	return n, time.Duration(*age * float64(time.Second)), nil
}

// Failed lists dead letters, oldest first.
func (s *Store) Failed(ctx context.Context, f outbox.FailedFilter) ([]outbox.Event, error) {
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = 1 << 62
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventCols("e")+` FROM search_outbox_events e
		WHERE e.status = 'failed' AND ($1 = '' OR e.last_reason = $1)
		ORDER BY e.created_at, e.id LIMIT $2`, string(f.Reason), limit)
	if err != nil {
		return nil, dbErr("list failed", err)
	}
	defer rows.Close()
	var evs []outbox.Event
	for rows.Next() {
		var ev outbox.Event
		if err := rows.Scan(eventDest(&ev)...); err != nil {
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
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM search_outbox_events
			WHERE status = 'failed' AND ($1 = '' OR last_reason = $1)`, string(reason)).Scan(&n)
		return n, dbErr("replay: count", err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE search_outbox_events SET status = 'pending', attempts = 0,
		next_attempt_at = now(), lease_owner = NULL, lease_until = NULL, claim_batch_id = NULL, updated_at = now()
		WHERE status = 'failed' AND ($1 = '' OR last_reason = $1)`, string(reason))
	if err != nil {
		return 0, dbErr("replay", err)
	}
	return int(tag.RowsAffected()), nil
}

func eventCols(t string) string {
	p := t + "."
	return p + "id::text, " + p + "entity_id, " + p + "op, " + p + "version, " + p + "projection, " + p + "status, " +
		p + "attempts, " + p + "next_attempt_at, coalesce(" + p + "lease_owner, ''), coalesce(" + p + "lease_until, 'epoch'), " +
		"coalesce(" + p + "claim_batch_id::text, ''), coalesce(" + p + "last_reason, ''), coalesce(" + p + "last_error, ''), " +
		p + "created_at, " + p + "updated_at"
}

func eventDest(ev *outbox.Event) []any {
	return []any{&ev.ID, &ev.EntityID, &ev.Op, &ev.Version, &ev.Projection, &ev.Status, &ev.Attempts,
		&ev.NextAttemptAt, &ev.LeaseOwner, &ev.LeaseUntil, &ev.ClaimBatchID, &ev.LastReason, &ev.LastError,
		&ev.CreatedAt, &ev.UpdatedAt}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// dbErr maps driver errors to the outbox sentinels, keeping the cause.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01"):
		return fmt.Errorf("%s: %w: %w", op, outbox.ErrLocked, err)
	case errors.As(err, &pgErr) && pgErr.Code == "42P01":
		return fmt.Errorf("%s: %w: %w", op, outbox.ErrNoSchema, err)
	case errors.As(err, &pgErr):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case pgconn.SafeToRetry(err) || isConnErr(err):
		return fmt.Errorf("%s: %w: %w", op, outbox.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.Timeout(err)
}
