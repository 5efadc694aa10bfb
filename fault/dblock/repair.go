package dblock

import (
	"context"
	"fmt"
	"strconv"

	"firedrill/fault"
	"firedrill/store"
)

// Repair ends the lock of a stale db_lock record from its Data alone. On
// PostgreSQL it terminates the journaled backend if that session still
// holds a lock on the table (a reused backend pid is told apart by its
// start time); on SQLite it checks the database takes a write lock within
// a few seconds. The password comes from the environment (PGPASSWORD or a
// pgpass file), never from the record. It is a fault.Repairer.
func Repair(ctx context.Context, r fault.Record) error {
	if r.Kind != fault.KindDBLock {
		return fmt.Errorf("%w: record %s: kind %q has no dblock repair (only %s)", fault.ErrInvalid, r.ID, r.Kind, fault.KindDBLock)
	}
	kind, dsn, err := store.Parse(r.Data["dsn"])
	if err != nil {
		return fmt.Errorf("%w: record %s: data dsn: %w", fault.ErrInvalid, r.ID, err)
	}
	if kind == store.KindSQLite {
		return repairSQLite(ctx, dsn)
	}
	pid, err := strconv.ParseInt(r.Data["backend_pid"], 10, 32)
	if err != nil || pid <= 0 || r.Data["schema"] == "" || r.Data["table"] == "" {
		return fmt.Errorf("%w: record %s: a PostgreSQL db_lock record needs data backend_pid (a pid), schema and table; got %q, %q, %q",
			fault.ErrInvalid, r.ID, r.Data["backend_pid"], r.Data["schema"], r.Data["table"])
	}
	s := pgSession{pid: int32(pid), start: r.Data["backend_start"], schema: r.Data["schema"], table: r.Data["table"]}
	if err := repairPostgres(ctx, dsn, s); err != nil {
		return fmt.Errorf("backend %d on %s: %w", s.pid, store.Redact(dsn), err)
	}
	return nil
}

var _ fault.Repairer = Repair
