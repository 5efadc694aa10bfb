package postgres

// migrations are applied in order; each runs once, recorded in
// firedrill_schema_migrations. Never edit a released migration: append one.
var migrations = []string{
	// 1: the outbox contract of DESIGN.md.
	`CREATE TABLE search_index (
		entity_id   text PRIMARY KEY,
		entity_type text NOT NULL,
		title       text NOT NULL DEFAULT '',
		body        text NOT NULL DEFAULT '',
		version     bigint NOT NULL,
		deleted     boolean NOT NULL DEFAULT false,
		updated_at  timestamptz NOT NULL DEFAULT now()
	);
	CREATE TABLE search_outbox_events (
		id              uuid PRIMARY KEY,
		entity_id       text NOT NULL,
		op              text NOT NULL CHECK (op IN ('upsert', 'delete')),
		version         bigint NOT NULL,
		projection      text NOT NULL,
		status          text NOT NULL DEFAULT 'pending'
		                CHECK (status IN ('pending', 'processing', 'done', 'failed')),
		attempts        integer NOT NULL DEFAULT 0,
		next_attempt_at timestamptz NOT NULL DEFAULT now(),
		lease_owner     text,
		lease_until     timestamptz,
		claim_batch_id  uuid,
		last_reason     text,
		last_error      text,
		created_at      timestamptz NOT NULL DEFAULT now(),
		updated_at      timestamptz NOT NULL DEFAULT now()
	);
	-- Claimable rows: pending ones are due at next_attempt_at; processing
	-- ones carry next_attempt_at = lease_until, so one index serves both.
	CREATE INDEX search_outbox_events_claimable_idx
		ON search_outbox_events (next_attempt_at, id) WHERE status IN ('pending', 'processing');
	CREATE INDEX search_outbox_events_failed_idx
		ON search_outbox_events (last_reason, created_at) WHERE status = 'failed';`,
}
