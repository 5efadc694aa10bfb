package dblock_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"firedrill/fault"
	"firedrill/fault/dblock"
	"firedrill/fault/faulttest"
	"firedrill/outbox"
	"firedrill/outbox/outboxtest"
	"firedrill/store"
)

// shortLock is the lock timeout of the stores the tests claim from.
var shortLock = outbox.Options{LockTimeout: 200 * time.Millisecond}

func TestLockMakesClaimsWait(t *testing.T) {
	for _, a := range outboxtest.Adapters(t) {
		t.Run(a.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := a.DSN(t)
			s := a.Open(t, dsn, shortLock)
			write(t, s, "a", "b")
			reg := prometheus.NewRegistry()
			j := &fault.Journal{Dir: t.TempDir()}
			inj, err := dblock.New(dblock.Config{DSN: dsn, Metrics: fault.NewMetrics(reg), Journal: j})
			if err != nil {
				t.Fatal(err)
			}
			revert, err := inj.Apply(ctx)
			if err != nil {
				t.Fatalf("Apply: got %v, want nil", err)
			}
			t.Cleanup(func() { _ = revert(context.Background()) })
			recs, err := j.List()
			if err != nil || len(recs) != 1 || recs[0].Kind != fault.KindDBLock || recs[0].Data["table"] != dblock.DefaultTable {
				t.Fatalf("journal while locked: got %+v, %v; want one db_lock record on %s", recs, err, dblock.DefaultTable)
			}
			if a.Name == "postgres" && recs[0].Data["backend_pid"] == "" {
				t.Errorf("journal: got no backend_pid in %v", recs[0].Data)
			}
			if _, err := s.Claim(ctx, "w1", 10, time.Minute); !errors.Is(err, outbox.ErrLocked) {
				t.Fatalf("Claim while locked: got %v, want outbox.ErrLocked (reason db_lock)", err)
			}
			if err := revert(ctx); err != nil {
				t.Fatalf("Revert: got %v, want nil", err)
			}
			if err := revert(ctx); err != nil {
				t.Errorf("second Revert: got %v, want nil", err)
			}
			cl, err := s.Claim(ctx, "w1", 10, time.Minute)
			if err != nil || len(cl.Events) != 2 {
				t.Fatalf("Claim after Revert: got %d events, %v; want 2, nil", len(cl.Events), err)
			}
			if recs, err := j.List(); err != nil || len(recs) != 0 {
				t.Errorf("journal after Revert: got %+v, %v; want empty", recs, err)
			}
			if got := faulttest.Injected(t, reg, fault.KindDBLock); got != 1 {
				t.Errorf("injected db_lock: got %v, want 1", got)
			}
		})
	}
}

func TestJournalHoldsNoPassword(t *testing.T) {
	pg := outboxtest.PostgreSQL(t)
	dsn := pg.DSN(t)
	pg.Open(t, dsn, outbox.Options{})
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		t.Fatalf("%s: got %q, want a postgres:// URL with a user", outboxtest.PGURLEnv, store.Redact(dsn))
	}
	// A server that trusts local connections never asks for the password
	// a passwordless test URL is given here.
	secret, has := u.User.Password()
	if !has {
		secret = "s3cret"
		u.User = url.UserPassword(u.User.Username(), secret)
	}
	withPassword := u.String()
	u.User = url.User(u.User.Username())
	want := u.String()
	j := &fault.Journal{Dir: t.TempDir()}
	inj, err := dblock.New(dblock.Config{DSN: withPassword, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	revert, err := inj.Apply(context.Background())
	if err != nil {
		t.Fatalf("Apply: got %v, want nil", err)
	}
	defer func() { _ = revert(context.Background()) }()
	files, _ := filepath.Glob(filepath.Join(j.Dir, "*.json"))
	for _, f := range files {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), secret) {
			t.Errorf("journal file %s holds the password:\n%s", f, b)
		}
	}
	recs, err := j.List()
	if err != nil || len(recs) != 1 || recs[0].Data["dsn"] != want {
		t.Fatalf("journal: got %+v, %v; want one record with dsn %s", recs, err, want)
	}
}

func TestApplyBadTargets(t *testing.T) {
	// An empty file is an empty SQLite database: no outbox table.
	missingTable := outboxtest.SQLite().DSN(t)
	if err := os.WriteFile(missingTable, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		cfg   dblock.Config
		want  error // nil: any error
		text  string
		never string
	}{
		{"empty DSN", dblock.Config{}, fault.ErrInvalid, "empty database DSN", ""},
		{"unsupported scheme", dblock.Config{DSN: "mysql://u@127.0.0.1/d"}, fault.ErrInvalid, `scheme "mysql"`, ""},
		{"malformed PostgreSQL DSN", dblock.Config{DSN: "postgres://u:pw@127.0.0.1:notaport/d"}, fault.ErrInvalid, "malformed PostgreSQL DSN", ":pw@"},
		{"bad table", dblock.Config{DSN: "x.db", Table: "events; DROP TABLE x"}, fault.ErrInvalid, "Table", ""},
		{"remote host", dblock.Config{DSN: "postgres://u:topsecret@db.example.com/d"}, fault.ErrTargetRefused, "db.example.com", "topsecret"},
		{"unreachable", dblock.Config{DSN: "postgres://u:topsecret@127.0.0.1:1/d?connect_timeout=2"}, nil, "127.0.0.1", "topsecret"},
		{"unix socket is local", dblock.Config{DSN: "host=" + t.TempDir() + " dbname=d"}, nil, "connect", ""},
		{"missing SQLite file", dblock.Config{DSN: "/no/such/dir/outbox.db"}, nil, "/no/such/dir/outbox.db", ""},
		{"SQLite without the table", dblock.Config{DSN: missingTable}, fault.ErrInvalid, "table search_outbox_events does not exist", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var revert fault.Revert
			inj, err := dblock.New(tc.cfg)
			if err == nil {
				revert, err = inj.Apply(context.Background())
			}
			if err == nil {
				_ = revert(context.Background())
				t.Fatalf("Apply: got nil, want an error mentioning %q", tc.text)
			}
			t.Logf("Apply: %v", err)
			if (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("Apply: got %v, want %v mentioning %q", err, tc.want, tc.text)
			}
			if errors.Is(err, fault.ErrTargetRefused) != errors.Is(tc.want, fault.ErrTargetRefused) {
				t.Errorf("Apply: got %v; want only the remote host refused", err)
			}
			if tc.never != "" && strings.Contains(err.Error(), tc.never) {
				t.Errorf("Apply: error leaks %q: %v", tc.never, err)
			}
		})
	}
}

func TestRepairTerminatesAStaleHolder(t *testing.T) {
	ctx := context.Background()
	pg := outboxtest.PostgreSQL(t)
	dsn := pg.DSN(t)
	s := pg.Open(t, dsn, shortLock)
	write(t, s, "a")
	holder := lockPG(t, dsn)

	// A record whose start time names another session is left alone.
	j := &fault.Journal{Dir: t.TempDir()}
	other := holder.record(t)
	other.Data["backend_start"] = "1"
	if err := dblock.Repair(ctx, other); err != nil {
		t.Fatalf("Repair of another session: got %v, want nil", err)
	}
	if _, err := s.Claim(ctx, "w1", 10, time.Minute); !errors.Is(err, outbox.ErrLocked) {
		t.Fatalf("Claim after repairing another session: got %v, want outbox.ErrLocked", err)
	}

	if _, _, err := j.Add(holder.record(t)); err != nil {
		t.Fatal(err)
	}
	done, err := j.Recover(ctx, map[fault.Kind]fault.Repairer{fault.KindDBLock: dblock.Repair})
	if err != nil || len(done) != 1 {
		t.Fatalf("Recover: got %d repaired, %v; want 1, nil", len(done), err)
	}
	cl, err := s.Claim(ctx, "w1", 10, time.Minute)
	if err != nil || len(cl.Events) != 1 {
		t.Fatalf("Claim after Recover: got %d events, %v; want 1, nil", len(cl.Events), err)
	}
	if err := dblock.Repair(ctx, holder.record(t)); err != nil {
		t.Errorf("Repair once the holder is gone: got %v, want nil", err)
	}
}

func TestRevertAfterTheSessionWasTerminated(t *testing.T) {
	ctx := context.Background()
	pg := outboxtest.PostgreSQL(t)
	dsn := pg.DSN(t)
	s := pg.Open(t, dsn, shortLock)
	j := &fault.Journal{Dir: t.TempDir()}
	inj, err := dblock.New(dblock.Config{DSN: dsn, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	revert, err := inj.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := j.List()
	if err != nil || len(recs) != 1 {
		t.Fatalf("journal: got %+v, %v; want one record", recs, err)
	}
	if err := dblock.Repair(ctx, recs[0]); err != nil {
		t.Fatalf("Repair: got %v, want nil", err)
	}
	if err := revert(ctx); err != nil {
		t.Errorf("Revert of a terminated session: got %v, want nil (the lock is gone)", err)
	}
	if _, err := s.Claim(ctx, "w1", 10, time.Minute); err != nil {
		t.Errorf("Claim after Revert: got %v, want nil", err)
	}
}

func TestRepairSQLite(t *testing.T) {
	a := outboxtest.SQLite()
	dsn := a.DSN(t)
	a.Open(t, dsn, outbox.Options{})
	rec := fault.Record{Kind: fault.KindDBLock, Data: map[string]string{"dsn": dsn, "table": dblock.DefaultTable}}
	if err := dblock.Repair(context.Background(), rec); err != nil {
		t.Fatalf("Repair of an unlocked database: got %v, want nil", err)
	}
	inj, err := dblock.New(dblock.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	revert, err := inj.Apply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = revert(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := dblock.Repair(ctx, rec); err == nil || !strings.Contains(err.Error(), "still locked") {
		t.Errorf("Repair while a live holder keeps the lock: got %v, want still locked", err)
	}
	gone := fault.Record{Kind: fault.KindDBLock, Data: map[string]string{"dsn": dsn + ".gone"}}
	if err := dblock.Repair(context.Background(), gone); err != nil {
		t.Errorf("Repair of a missing file: got %v, want nil", err)
	}
}

func TestRepairBadRecords(t *testing.T) {
	cases := []struct {
		name string
		rec  fault.Record
	}{
		{"other kind", fault.Record{Kind: fault.KindWriteBlock, Data: map[string]string{"dsn": "x.db"}}},
		{"no dsn", fault.Record{Kind: fault.KindDBLock}},
		{"no backend pid", fault.Record{Kind: fault.KindDBLock, Data: map[string]string{"dsn": "postgres://u@127.0.0.1/d", "schema": "s", "table": "t"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := dblock.Repair(context.Background(), tc.rec); !errors.Is(err, fault.ErrInvalid) {
				t.Errorf("Repair: got %v, want fault.ErrInvalid", err)
			}
		})
	}
}

// pgHolder is a test connection holding the outbox table lock, standing
// in for the session of a crashed owner.
type pgHolder struct {
	dsn, pid, start, schema string
}

func lockPG(t *testing.T, dsn string) pgHolder {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	h := pgHolder{dsn: dsn}
	err = conn.QueryRow(ctx, `SELECT pid::text, (extract(epoch FROM backend_start) * 1000000)::int8::text, current_schema()
		FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&h.pid, &h.start, &h.schema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `BEGIN; LOCK TABLE search_outbox_events IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return h
}

// record is the journal record of h, owned by a process that is gone.
func (h pgHolder) record(t *testing.T) fault.Record {
	return fault.Record{Kind: fault.KindDBLock, Target: "test holder", OwnerPID: deadPID(t), Data: map[string]string{
		"dsn": h.dsn, "backend_pid": h.pid, "backend_start": h.start, "schema": h.schema, "table": dblock.DefaultTable,
	}}
}

func write(t *testing.T, s outbox.Store, ids ...string) {
	t.Helper()
	changes := make([]outbox.Change, len(ids))
	for i, id := range ids {
		changes[i] = outbox.Change{EntityID: id, EntityType: "doc", Title: id, Op: outbox.OpUpsert}
	}
	if _, err := s.Write(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}
