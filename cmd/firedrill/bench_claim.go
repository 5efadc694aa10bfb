package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"firedrill/outbox"
	"firedrill/outbox/outboxbench"
	"firedrill/outbox/postgres"
	"firedrill/store"
)

func newBenchClaimCmd(g *globals) *cobra.Command {
	var pgURL, batches string
	var events, runs, loops int
	c := &cobra.Command{
		Use:   "claim",
		Short: "Claim+ack events/s on SQLite and PostgreSQL for several batch sizes (median of --runs)",
		Long: `bench claim fills a fresh outbox with --events events, then drains it with
--loops concurrent claim/ack loops (the projector's own store calls, no search
engine), for each batch size, on a temporary SQLite file and, when --pg is
given, in a schema of its own (firedrill_bench, dropped and re-created each
run; nothing else in the database is touched). It prints the median of --runs.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			sizes, err := parseInts(batches)
			if err != nil {
				return usageErr("--batches: %v", err)
			}
			if events < 1 || runs < 1 || loops < 1 {
				return usageErr("--events, --runs and --loops must be ≥ 1")
			}
			dir, err := os.MkdirTemp("", "firedrill-bench-")
			if err != nil {
				return err
			}
			defer func() { _ = os.RemoveAll(dir) }()
			targets := []struct{ name, dsn string }{{"sqlite", ""}}
			if pgURL != "" {
				targets = append(targets, struct{ name, dsn string }{"postgres", pgURL})
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fprintf(tw, "store\tbatch\tevents\tloops\tmedian events/s\truns\t\n")
			for _, t := range targets {
				for _, b := range sizes {
					var rates []float64
					for r := range runs {
						dsn := t.dsn
						if dsn == "" {
							dsn = filepath.Join(dir, fmt.Sprintf("b%d-r%d.db", b, r))
						}
						rate, err := benchOnce(c, dsn, events, b, loops)
						if err != nil {
							return fmt.Errorf("%s batch %d: %w", t.name, b, err)
						}
						rates = append(rates, rate)
						fprintf(g.stderr, "  %s batch=%d run %d/%d: %.0f events/s\n", t.name, b, r+1, runs, rate)
					}
					fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%s\t\n", t.name, b, events, loops, median(rates), fmtRates(rates))
				}
			}
			return tw.Flush()
		},
	}
	f := c.Flags()
	f.StringVar(&pgURL, "pg", "", "PostgreSQL URL; the bench works in schema firedrill_bench, dropped and re-created")
	f.StringVar(&batches, "batches", "1,100,1000", "comma-separated batch sizes")
	f.IntVar(&events, "events", 20000, "events per run")
	f.IntVar(&runs, "runs", 3, "runs per cell; the median is printed")
	f.IntVar(&loops, "loops", 4, "concurrent claim/ack loops")
	return c
}

func benchOnce(c *cobra.Command, dsn string, events, batch, loops int) (float64, error) {
	ctx := c.Context()
	dsn, err := resetBenchDB(ctx, dsn)
	if err != nil {
		return 0, err
	}
	s, err := openStore(ctx, dsn, outbox.Options{MaxConns: loops + 2}, true)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := outboxbench.Fill(ctx, s, "b-", events); err != nil {
		return 0, err
	}
	r, err := outboxbench.ClaimAck(ctx, s, events, batch, loops)
	if err != nil {
		return 0, err
	}
	return r.PerSecond(), nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
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

// benchSchema holds the PostgreSQL bench tables, apart from any others.
const benchSchema = "firedrill_bench"

// resetBenchDB gives a PostgreSQL run an empty schema of its own and returns
// the DSN that works in it; SQLite runs use a fresh file.
func resetBenchDB(ctx context.Context, dsn string) (string, error) {
	if kind, _, err := store.Parse(dsn); err != nil || kind != store.KindPostgres {
		return dsn, err
	}
	s, err := openStore(ctx, dsn, outbox.Options{}, false)
	if err != nil {
		return "", err
	}
	defer s.Close()
	if _, err := s.(*postgres.Store).Pool().Exec(ctx,
		`DROP SCHEMA IF EXISTS `+benchSchema+` CASCADE; CREATE SCHEMA `+benchSchema); err != nil {
		return "", fmt.Errorf("reset schema %s: %w", benchSchema, err)
	}
	return store.WithSearchPath(dsn, benchSchema)
}
