// Package store opens the outbox adapter a DSN names and redacts DSNs for
// display: postgres:// and postgresql:// URLs (or key=value strings with
// host=) open PostgreSQL; sqlite:PATH, file:PATH or a bare path open SQLite.
package store

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"firedrill/outbox"
	"firedrill/outbox/postgres"
	"firedrill/outbox/sqlite"
)

// Kind is the adapter a DSN selects.
type Kind string

// The adapters.
const (
	KindSQLite   Kind = "sqlite"
	KindPostgres Kind = "postgres"
)

// Parse returns the adapter and the adapter-specific DSN.
func Parse(dsn string) (Kind, string, error) {
	switch {
	case dsn == "":
		return "", "", fmt.Errorf("%w: empty database DSN: pass --db postgres://… or a SQLite file path", outbox.ErrInvalid)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return KindPostgres, dsn, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		return KindSQLite, strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//"), nil
	case strings.HasPrefix(dsn, "file:"):
		return KindSQLite, strings.TrimPrefix(dsn, "file:"), nil
	case strings.Contains(dsn, "host=") || strings.Contains(dsn, "dbname="):
		return KindPostgres, dsn, nil
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return "", "", fmt.Errorf("%w: database DSN scheme %q is not supported (use postgres:// or a SQLite path)", outbox.ErrInvalid, scheme)
	}
	return KindSQLite, dsn, nil
}

// Open opens and returns the store dsn names, without migrating it.
func Open(ctx context.Context, dsn string, opts outbox.Options) (outbox.Store, error) {
	kind, d, err := Parse(dsn)
	if err != nil {
		return nil, err
	}
	if kind == KindPostgres {
		return postgres.Open(ctx, d, opts)
	}
	return sqlite.Open(ctx, d, opts)
}

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// Redact hides the password of a DSN so it can be printed or stored.
func Redact(dsn string) string {
	if strings.Contains(dsn, "://") {
		if u, err := url.Parse(dsn); err == nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
			q := u.Query()
			if q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
			}
			return u.String()
		}
		// Unparseable: keep the scheme only.
		scheme, _, _ := strings.Cut(dsn, "://")
		return scheme + "://(unparseable DSN hidden)"
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// WithSearchPath returns the PostgreSQL dsn with every connection resolving
// unqualified table names in schema: pgx sends unknown URL parameters and
// key=value settings to the server as run-time parameters.
func WithSearchPath(dsn, schema string) (string, error) {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("malformed PostgreSQL URL %s: %w", Redact(dsn), err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}
