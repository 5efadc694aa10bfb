package sqlite

// migrations are applied in order, each once, recorded in
// firedrill_schema_migrations. Timestamps are INTEGER unix microseconds (UTC).
var migrations = []string{
	// 1: the outbox contract of DESIGN.md.
	`CREATE TABLE search_index (
		entity_id   TEXT PRIMARY KEY,
		entity_type TEXT NOT NULL,
		title       TEXT NOT NULL DEFAULT '',
		body        TEXT NOT NULL DEFAULT '',
		version     INTEGER NOT NULL,
		deleted     INTEGER NOT NULL DEFAULT 0,
		updated_at  INTEGER NOT NULL
	);
	CREATE TABLE search_outbox_events (
		id              TEXT PRIMARY KEY,
		entity_id       TEXT NOT NULL,
		op              TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
		version         INTEGER NOT NULL,
		projection      TEXT NOT NULL,
		status          TEXT NOT NULL DEFAULT 'pending'
		                CHECK (status IN ('pending', 'processing', 'done', 'failed')),
		attempts        INTEGER NOT NULL DEFAULT 0,
		next_attempt_at INTEGER NOT NULL,
		lease_owner     TEXT,
		lease_until     INTEGER,
		claim_batch_id  TEXT,
		last_reason     TEXT,
		last_error      TEXT,
		created_at      INTEGER NOT NULL,
		updated_at      INTEGER NOT NULL
	);
	CREATE INDEX search_outbox_events_claimable_idx
		ON search_outbox_events (next_attempt_at, id) WHERE status IN ('pending', 'processing');
	CREATE INDEX search_outbox_events_failed_idx
		ON search_outbox_events (last_reason, created_at) WHERE status = 'failed';`,
}
