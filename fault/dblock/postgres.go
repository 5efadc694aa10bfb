package dblock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"firedrill/fault"
)

// appName tags the lock-holding session in pg_stat_activity.
const appName = "firedrill-dblock"

// connectTimeout bounds a connect when the DSN sets no connect_timeout.
const connectTimeout = 5 * time.Second

// terminateWait bounds the wait for a terminated backend to let go.
const terminateWait = 10 * time.Second

// startExpr renders a backend's start time as microseconds since the
// epoch: with the pid it names one session, as a pid alone cannot.
const startExpr = `(extract(epoch FROM backend_start) * 1000000)::int8::text`

// pgSession is the holding session and the table it locks, as journaled.
type pgSession struct {
	pid    int32
	start  string // startExpr of the session; "" matches any
	schema string
	table  string
}

func pgConfig(dsn, app string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed PostgreSQL DSN: %w", fault.ErrInvalid, err)
	}
	cfg.RuntimeParams["application_name"] = app
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	return cfg, nil
}

// checkHosts runs fault.CheckTarget on every host the DSN may connect to;
// a unix socket directory is this machine.
func checkHosts(cfg *pgx.ConnConfig) error {
	allow := fault.AllowedTargets()
	check := func(host string, port uint16) error {
		if strings.HasPrefix(host, "/") {
			return nil
		}
		return fault.CheckTarget(net.JoinHostPort(host, strconv.Itoa(int(port))), allow)
	}
	if err := check(cfg.Host, cfg.Port); err != nil {
		return err
	}
	for _, f := range cfg.Fallbacks {
		if err := check(f.Host, f.Port); err != nil {
			return err
		}
	}
	return nil
}

func (in *Injector) applyPostgres(ctx context.Context, dsn string) (fault.Revert, error) {
	cfg, err := pgConfig(dsn, appName)
	if err != nil {
		return nil, err
	}
	if err := checkHosts(cfg); err != nil {
		return nil, err
	}
	// The lock must last the fault's window: a server-side idle timeout
	// would end the held transaction early.
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = "0"
	cfg.RuntimeParams["lock_timeout"] = strconv.FormatInt(lockWait.Milliseconds(), 10)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	closeConn := func() { _ = conn.Close(context.WithoutCancel(ctx)) }
	s, err := session(ctx, conn, in.cfg.table())
	if err != nil {
		closeConn()
		return nil, err
	}
	remove, err := in.journal(map[string]string{
		"dsn":           withoutPassword(in.cfg.DSN),
		"backend_pid":   strconv.Itoa(int(s.pid)),
		"backend_start": s.start,
		"schema":        s.schema,
		"table":         s.table,
	})
	if err != nil {
		closeConn()
		return nil, err
	}
	tx, err := conn.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{s.schema, s.table}.Sanitize()+" IN ACCESS EXCLUSIVE MODE")
	}
	if err != nil {
		closeConn()
		return nil, errors.Join(fmt.Errorf("lock table %s.%s: %w", s.schema, s.table, err), remove())
	}
	h := &pgHolder{conn: conn, tx: tx, dsn: dsn, s: s, remove: remove}
	return h.revert, nil
}

// session returns the connection's backend and resolves table on it.
func session(ctx context.Context, conn *pgx.Conn, table string) (pgSession, error) {
	var s pgSession
	err := conn.QueryRow(ctx, `SELECT pid, `+startExpr+` FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&s.pid, &s.start)
	if err != nil {
		return s, fmt.Errorf("read backend pid: %w", err)
	}
	err = conn.QueryRow(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass($1)`, table).Scan(&s.schema, &s.table)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("%w: table %s does not exist in this database and search_path (run: firedrill db migrate)", fault.ErrInvalid, table)
	}
	if err != nil {
		return s, fmt.Errorf("resolve table %s: %w", table, err)
	}
	return s, nil
}

// pgHolder holds one PostgreSQL lock.
type pgHolder struct {
	conn   *pgx.Conn
	tx     pgx.Tx
	dsn    string // with its password: a revert may need to reconnect
	s      pgSession
	remove func() error
	mu     sync.Mutex
	done   bool
}

func (h *pgHolder) revert(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil
	}
	rerr := h.tx.Rollback(ctx)
	_ = h.conn.Close(ctx)
	if rerr != nil {
		// The session may have been ended from outside (a repair, a server
		// restart) or the network broke: make sure, from a new connection,
		// that it no longer holds the lock.
		if err := repairPostgres(ctx, h.dsn, h.s); err != nil {
			return fmt.Errorf("%s revert: rollback: %w; check from a new connection: %w", fault.KindDBLock, rerr, err)
		}
	}
	h.done = true
	return h.remove()
}

// repairPostgres terminates the backend s names if it is still that
// session and still holds a lock on s's table, and waits until it is gone.
func repairPostgres(ctx context.Context, dsn string, s pgSession) error {
	cfg, err := pgConfig(dsn, appName+"-repair")
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	held, err := holds(ctx, conn, s)
	if err != nil || !held {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, s.pid); err != nil {
		return fmt.Errorf("terminate backend %d: %w", s.pid, err)
	}
	wctx, cancel := context.WithTimeout(ctx, terminateWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		held, err := holds(wctx, conn, s)
		if err != nil || !held {
			return err
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("backend %d still holds its lock on %s.%s after pg_terminate_backend: %w", s.pid, s.schema, s.table, wctx.Err())
		case <-tick.C:
		}
	}
}

// holds reports whether backend s (the same session, when s.start is
// known) holds or awaits a lock on s's table in the current database.
func holds(ctx context.Context, conn *pgx.Conn, s pgSession) (bool, error) {
	var held bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_locks l
		JOIN pg_class c ON c.oid = l.relation
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'relation'
		  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.pid = $1 AND n.nspname = $2 AND c.relname = $3
		  AND ($4 = '' OR `+startExpr+` = $4))`, s.pid, s.schema, s.table, s.start).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("read pg_locks: %w", err)
	}
	return held, nil
}
