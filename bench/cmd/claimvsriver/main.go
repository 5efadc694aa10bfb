// Command claimvsriver measures, on one PostgreSQL and in one run, how fast
// firedrill's outbox drains with claim+ack (outboxbench.ClaimAck) against how
// fast River (github.com/riverqueue/river) works and completes the same number
// of no-op jobs. The two systems are interleaved run by run so both see the
// same machine state. Each run uses its own PostgreSQL schema, created fresh
// and dropped afterwards, so nothing outside that schema is touched.
//
// Usage:
//
//	cd bench && go run ./cmd/claimvsriver --pg "$FIREDRILL_TEST_PG_URL"
//
// The table goes to stdout, progress to stderr.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"firedrill/outbox"
	"firedrill/outbox/outboxbench"
	"firedrill/outbox/postgres"
	"firedrill/store"
)

type config struct {
	pgURL   string
	events  int
	batches []int
	loops   int
	runs    int
	timeout time.Duration

	riverWorkers  int
	riverCooldown time.Duration
	riverPoll     time.Duration
	riverConns    int
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "claimvsriver:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	var batches string
	fs := flag.NewFlagSet("claimvsriver", flag.ContinueOnError)
	fs.StringVar(&cfg.pgURL, "pg", os.Getenv("FIREDRILL_TEST_PG_URL"), "PostgreSQL URL (default $FIREDRILL_TEST_PG_URL); each run creates and drops its own schema there")
	fs.IntVar(&cfg.events, "events", 20000, "events (firedrill) / jobs (River) per run")
	fs.StringVar(&batches, "batches", "1000", "comma-separated firedrill claim batch sizes")
	fs.IntVar(&cfg.loops, "loops", 4, "concurrent firedrill claim/ack loops")
	fs.IntVar(&cfg.runs, "runs", 3, "runs per system and batch size; the median is printed")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "upper bound on one run (setup, fill, drain)")
	fs.IntVar(&cfg.riverWorkers, "river-workers", 2000, "River queue MaxWorkers")
	fs.DurationVar(&cfg.riverCooldown, "river-fetch-cooldown", time.Millisecond, "River FetchCooldown")
	fs.DurationVar(&cfg.riverPoll, "river-fetch-poll", 5*time.Millisecond, "River FetchPollInterval")
	fs.IntVar(&cfg.riverConns, "river-conns", 10, "River pgxpool MaxConns")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.pgURL == "" {
		return errors.New("no PostgreSQL: pass --pg URL or set FIREDRILL_TEST_PG_URL")
	}
	var err error
	if cfg.batches, err = parseInts(batches); err != nil {
		return fmt.Errorf("--batches: %w", err)
	}
	if cfg.events < 1 || cfg.runs < 1 || cfg.loops < 1 || cfg.riverWorkers < 1 || cfg.riverConns < 1 || cfg.timeout <= 0 {
		return errors.New("--events, --runs, --loops, --river-workers, --river-conns and --timeout must be positive")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	admin, err := openPool(ctx, cfg.pgURL, 2)
	if err != nil {
		return err
	}
	defer admin.Close()

	logf("claimvsriver: %d events, %d runs, firedrill batches %v with %d loops (MaxConns %d); River queue MaxWorkers=%d FetchCooldown=%s FetchPollInterval=%s pool MaxConns=%d, timeout %s per run",
		cfg.events, cfg.runs, cfg.batches, cfg.loops, cfg.loops+2, cfg.riverWorkers, cfg.riverCooldown, cfg.riverPoll, cfg.riverConns, cfg.timeout)

	fdRates := make(map[int][]float64)
	var riverRates []float64
	pid := os.Getpid()
	for r := range cfg.runs {
		for _, b := range cfg.batches {
			schema := fmt.Sprintf("claimvsriver_%d_fd_b%d_r%d", pid, b, r+1)
			rate, err := firedrillRun(ctx, admin, cfg, schema, b)
			if err != nil {
				return fmt.Errorf("firedrill batch %d run %d: %w", b, r+1, err)
			}
			fdRates[b] = append(fdRates[b], rate)
			logf("  firedrill batch=%d run %d/%d: %.0f events/s", b, r+1, cfg.runs, rate)
		}
		schema := fmt.Sprintf("claimvsriver_%d_river_r%d", pid, r+1)
		rate, err := riverRun(ctx, admin, cfg, schema)
		if err != nil {
			return fmt.Errorf("river run %d: %w", r+1, err)
		}
		riverRates = append(riverRates, rate)
		logf("  river run %d/%d: %.0f jobs/s", r+1, cfg.runs, rate)
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "system\tbatch\tevents\tmedian events/s\truns\t\n")
	for _, b := range cfg.batches {
		fmt.Fprintf(tw, "firedrill\t%d\t%d\t%.0f\t%s\t\n", b, cfg.events, median(fdRates[b]), fmtRates(fdRates[b]))
	}
	fmt.Fprintf(tw, "river\t-\t%d\t%.0f\t%s\t\n", cfg.events, median(riverRates), fmtRates(riverRates))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, b := range cfg.batches {
		fmt.Printf("ratio firedrill/river (median, batch %d): %.2f×\n", b, median(fdRates[b])/median(riverRates))
	}
	return nil
}

// firedrillRun fills a fresh outbox in its own schema and times its drain.
func firedrillRun(parent context.Context, admin *pgxpool.Pool, cfg config, schema string, batch int) (float64, error) {
	ctx, cancel := context.WithTimeout(parent, cfg.timeout)
	defer cancel()
	if err := createSchema(ctx, admin, schema); err != nil {
		return 0, err
	}
	defer dropSchema(parent, admin, schema)

	dsn, err := store.WithSearchPath(cfg.pgURL, schema)
	if err != nil {
		return 0, err
	}
	s, err := postgres.Open(ctx, dsn, outbox.Options{MaxConns: cfg.loops + 2})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return 0, err
	}
	// The store must really be working in the per-run schema.
	var reg *string
	if err := admin.QueryRow(ctx, `SELECT to_regclass($1)::text`, pgx.Identifier{schema, "search_outbox_events"}.Sanitize()).Scan(&reg); err != nil {
		return 0, err
	}
	if reg == nil {
		return 0, fmt.Errorf("search_outbox_events was not created in schema %s (search_path not honoured?)", schema)
	}
	if err := outboxbench.Fill(ctx, s, "b-", cfg.events); err != nil {
		return 0, fmt.Errorf("fill: %w", err)
	}
	res, err := outboxbench.ClaimAck(ctx, s, cfg.events, batch, cfg.loops)
	if err != nil {
		return 0, fmt.Errorf("claim+ack: %w", err)
	}
	return res.PerSecond(), nil
}

type noopArgs struct{}

func (noopArgs) Kind() string { return "claimvsriver_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	target int64
	worked atomic.Int64
	lastAt atomic.Int64 // UnixNano when the target-th job was worked
}

func (w *noopWorker) Work(context.Context, *river.Job[noopArgs]) error {
	if w.worked.Add(1) == w.target {
		w.lastAt.Store(time.Now().UnixNano())
	}
	return nil
}

// riverRun migrates River into a fresh schema, inserts cfg.events no-op jobs
// (untimed), then times from client Start until every job has been completed
// (its completed state written by River's completer, reported through
// EventKindJobCompleted).
func riverRun(parent context.Context, admin *pgxpool.Pool, cfg config, schema string) (float64, error) {
	ctx, cancel := context.WithTimeout(parent, cfg.timeout)
	defer cancel()
	if err := createSchema(ctx, admin, schema); err != nil {
		return 0, err
	}
	defer dropSchema(parent, admin, schema)

	pool, err := openPool(ctx, cfg.pgURL, cfg.riverConns)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	driver := riverpgxv5.New(pool)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: logger})
	if err != nil {
		return 0, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return 0, fmt.Errorf("river migrate: %w", err)
	}

	worker := &noopWorker{target: int64(cfg.events)}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, worker); err != nil {
		return 0, err
	}
	client, err := river.NewClient(driver, &river.Config{
		Schema:            schema,
		Logger:            logger,
		Workers:           workers,
		FetchCooldown:     cfg.riverCooldown,
		FetchPollInterval: cfg.riverPoll,
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: cfg.riverWorkers},
		},
	})
	if err != nil {
		return 0, err
	}

	for i := 0; i < cfg.events; i += 1000 {
		params := make([]river.InsertManyParams, 0, 1000)
		for range min(1000, cfg.events-i) {
			params = append(params, river.InsertManyParams{Args: noopArgs{}})
		}
		if _, err := client.InsertMany(ctx, params); err != nil {
			return 0, fmt.Errorf("river insert: %w", err)
		}
	}
	if n, err := countJobs(ctx, admin, schema, "available"); err != nil {
		return 0, err
	} else if n != cfg.events {
		return 0, fmt.Errorf("%d available jobs after insert, want %d", n, cfg.events)
	}

	// A channel that holds every event, so the subscription never drops one.
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: cfg.events + 1024,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
	})
	defer unsubscribe()

	// The client runs under parent, not under the run's timeout, so that a
	// timeout ends in the graceful Stop below rather than in River's services
	// dying mid-operation.
	start := time.Now()
	if err := client.Start(parent); err != nil {
		return 0, fmt.Errorf("river start: %w", err)
	}
	completed := 0
	var waitErr error
	for completed < cfg.events && waitErr == nil {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				waitErr = fmt.Errorf("job %d: unexpected event %s", ev.Job.ID, ev.Kind)
				break
			}
			completed++
		case <-ctx.Done():
			waitErr = fmt.Errorf("%d of %d jobs completed: %w", completed, cfg.events, ctx.Err())
		}
	}
	elapsed := time.Since(start)
	stopRiver(parent, client)
	if waitErr != nil {
		return 0, waitErr
	}
	if n, err := countJobs(ctx, admin, schema, "completed"); err != nil {
		return 0, err
	} else if n != cfg.events {
		return 0, fmt.Errorf("%d completed jobs in the table, want %d", n, cfg.events)
	}
	if at := worker.lastAt.Load(); at != 0 {
		worked := time.Unix(0, at).Sub(start)
		logf("    river: last job worked after %s, all %d completed after %s (completer lag %s)",
			worked.Round(time.Millisecond), cfg.events, elapsed.Round(time.Millisecond), (elapsed - worked).Round(time.Millisecond))
	}
	return float64(cfg.events) / elapsed.Seconds(), nil
}

// stopRiver stops the client gracefully within 30s, then hard.
func stopRiver(parent context.Context, client *river.Client[pgx.Tx]) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 30*time.Second)
	defer cancel()
	if err := client.Stop(ctx); err != nil {
		logf("    river: graceful stop: %v; cancelling", err)
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
		defer hcancel()
		if err := client.StopAndCancel(hctx); err != nil {
			logf("    river: hard stop: %v", err)
		}
	}
}

func countJobs(ctx context.Context, admin *pgxpool.Pool, schema, state string) (int, error) {
	var n int
	err := admin.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "river_job"}.Sanitize()+` WHERE state = $1`, state).Scan(&n)
	return n, err
}

func openPool(ctx context.Context, dsn string, maxConns int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("malformed PostgreSQL URL: %w", err)
	}
	pc.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL unreachable: %w", err)
	}
	return pool, nil
}

func createSchema(ctx context.Context, admin *pgxpool.Pool, schema string) error {
	id := pgx.Identifier{schema}.Sanitize()
	if _, err := admin.Exec(ctx, `DROP SCHEMA IF EXISTS `+id+` CASCADE`); err != nil {
		return err
	}
	_, err := admin.Exec(ctx, `CREATE SCHEMA `+id)
	return err
}

// dropSchema runs even when the run's context is done (timeout, Ctrl-C).
func dropSchema(parent context.Context, admin *pgxpool.Pool, schema string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 30*time.Second)
	defer cancel()
	if _, err := admin.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		logf("    cleanup: drop schema %s: %v", schema, err)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.SortFunc(s, cmp.Compare)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRates(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, " ")
}

var stderr io.Writer = os.Stderr

func logf(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
