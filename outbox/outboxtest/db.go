// Package outboxtest is the suite every outbox.Store adapter must pass, and
// the helpers that open each adapter against a real, isolated database.
package outboxtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"firedrill/outbox"
	"firedrill/outbox/postgres"
	"firedrill/outbox/sqlite"
	"firedrill/store"
)

// PGURLEnv names the variable holding the test PostgreSQL URL.
const PGURLEnv = "FIREDRILL_TEST_PG_URL"

// Adapter opens a fresh, migrated, empty store for one test.
type Adapter struct {
	Name string
	// DSN returns a DSN of a fresh empty database (usable by a child process).
	DSN  func(t testing.TB) string
	Open func(t testing.TB, dsn string, opts outbox.Options) outbox.Store
	// Lock takes an exclusive lock on the outbox table from another
	// connection until the returned func is called.
	Lock func(t testing.TB, dsn string) (unlock func())
}

// Adapters returns SQLite and, when reachable, PostgreSQL. Outside CI a
// missing PostgreSQL skips with a message; with CI=true it fails.
func Adapters(t testing.TB) []Adapter {
	return []Adapter{SQLite(), PostgreSQL(t)}
}

// SQLite is the SQLite adapter on a file in t.TempDir().
func SQLite() Adapter {
	return Adapter{
		Name: "sqlite",
		DSN: func(t testing.TB) string {
			return filepath.Join(t.TempDir(), "outbox.db")
		},
		Open: func(t testing.TB, dsn string, opts outbox.Options) outbox.Store {
			t.Helper()
			opts.Create = true
			s, err := sqlite.Open(context.Background(), dsn, opts)
			if err != nil {
				t.Fatalf("open sqlite: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			return s
		},
		Lock: func(t testing.TB, dsn string) func() {
			t.Helper()
			db, err := sql.Open("sqlite", "file:"+dsn+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			tx, err := db.BeginTx(context.Background(), nil)
			if err == nil {
				_, err = tx.ExecContext(context.Background(), `UPDATE search_outbox_events SET updated_at = updated_at`)
			}
			if err != nil {
				t.Fatalf("lock sqlite: %v", err)
			}
			return func() { _ = tx.Rollback(); _ = db.Close() }
		},
	}
}

var schemaSeq atomic.Int64

// PostgreSQL is the PostgreSQL adapter, each DSN on a schema of its own.
func PostgreSQL(t testing.TB) Adapter {
	return Adapter{
		Name: "postgres",
		DSN: func(t testing.TB) string {
			t.Helper()
			base := PGURL(t)
			schema := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemaSeq.Add(1))
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, base)
			if err != nil {
				t.Fatalf("connect %s: %v", PGURLEnv, err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
				t.Fatalf("create schema: %v", err)
			}
			t.Cleanup(func() {
				c, err := pgx.Connect(context.Background(), base)
				if err != nil {
					return
				}
				defer c.Close(context.Background())
				_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			})
			dsn, err := store.WithSearchPath(base, schema)
			if err != nil {
				t.Fatal(err)
			}
			return dsn
		},
		Open: func(t testing.TB, dsn string, opts outbox.Options) outbox.Store {
			t.Helper()
			s, err := postgres.Open(context.Background(), dsn, opts)
			if err != nil {
				t.Fatalf("open postgres: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			return s
		},
		Lock: func(t testing.TB, dsn string) func() {
			t.Helper()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := conn.Begin(ctx)
			if err == nil {
				_, err = tx.Exec(ctx, `LOCK TABLE search_outbox_events IN ACCESS EXCLUSIVE MODE`)
			}
			if err != nil {
				t.Fatalf("lock postgres: %v", err)
			}
			return func() { _ = tx.Rollback(ctx); _ = conn.Close(ctx) }
		},
	}
}

// PGURL returns the test PostgreSQL URL, skipping (or failing with CI=true)
// when it is unset or unreachable.
func PGURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PGURLEnv)
	msg := ""
	if u == "" {
		msg = PGURLEnv + " is not set"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			msg = "PostgreSQL at " + PGURLEnv + " is unreachable: " + err.Error()
		} else {
			_ = conn.Close(ctx)
		}
	}
	if msg != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: PostgreSQL tests never skip)", msg)
		}
		t.Skipf("%s; start one with: eval \"$(scripts/pg-test-cluster start)\"", msg)
	}
	return u
}

// OpenFresh opens a fresh store of adapter a with default options.
func (a Adapter) OpenFresh(t testing.TB) outbox.Store {
	return a.Open(t, a.DSN(t), outbox.Options{})
}
