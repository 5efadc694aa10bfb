package dblock

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"firedrill/fault"
)

// repairWait bounds how long Repair waits for SQLite's write lock.
const repairWait = 5 * time.Second

// openSQLite opens the existing database at path (never creating one) on
// a single connection with the given busy timeout.
func openSQLite(path string, busy time.Duration) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("SQLite database %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", max(busy.Milliseconds(), 0)))
	q.Set("mode", "rw")
	// The path is a URI filename: escape what would end it early.
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	db, err := sql.Open("sqlite", "file:"+escaped+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("SQLite database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

func (in *Injector) applySQLite(ctx context.Context, path string) (fault.Revert, error) {
	// Journaled absolute and as sqlite:PATH: the repairing process may run
	// elsewhere, and a bare path holding "host=" would read as PostgreSQL.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("SQLite database %s: %w", path, err)
	}
	path = abs
	db, err := openSQLite(path, lockWait)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("SQLite database %s: %w", path, err)
	}
	closeAll := func() { _ = conn.Close(); _ = db.Close() }
	table := in.cfg.table()
	table = table[strings.LastIndexByte(table, '.')+1:]
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
		closeAll()
		return nil, fmt.Errorf("SQLite database %s: %w", path, err)
	}
	if n == 0 {
		closeAll()
		return nil, fmt.Errorf("%w: table %s does not exist in SQLite database %s (run: firedrill db migrate)", fault.ErrInvalid, table, path)
	}
	remove, err := in.journal(map[string]string{"dsn": "sqlite:" + path, "table": table})
	if err != nil {
		closeAll()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		closeAll()
		return nil, errors.Join(fmt.Errorf("begin exclusive: %w", err), remove())
	}
	h := &sqliteHolder{db: db, conn: conn, remove: remove}
	return h.revert, nil
}

// sqliteHolder holds one SQLite write lock.
type sqliteHolder struct {
	db     *sql.DB
	conn   *sql.Conn
	remove func() error
	mu     sync.Mutex
	done   bool
}

func (h *sqliteHolder) revert(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil
	}
	_, rerr := h.conn.ExecContext(ctx, "ROLLBACK")
	_ = h.conn.Close()
	// Closing the database ends the transaction even when ROLLBACK failed.
	if err := h.db.Close(); err != nil {
		return fmt.Errorf("%s revert: %w", fault.KindDBLock, errors.Join(rerr, err))
	}
	h.done = true
	return h.remove()
}

// repairSQLite checks that the database at path takes a write lock within
// repairWait (or ctx's deadline, when sooner). A missing file holds no lock.
func repairSQLite(ctx context.Context, path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	wait := repairWait
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl)
	}
	db, err := openSQLite(path, wait)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("SQLite database %s: %w", path, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("SQLite database %s is still locked after %s: %w", path, wait.Round(time.Millisecond), err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		return fmt.Errorf("SQLite database %s: rollback: %w", path, err)
	}
	return nil
}
