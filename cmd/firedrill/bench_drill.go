package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newBenchDrillCmd(g *globals) *cobra.Command {
	var runs int
	var root string
	c := &cobra.Command{
		Use:   "drill [SCENARIO...]",
		Short: "Wall time and the harness's peak RSS per drill on the embedded stack",
		Long: `bench drill runs 'firedrill drill SCENARIO' as a child process --runs times per
scenario (default: the P0 scenarios), interleaved, on the embedded stack,
and prints per scenario the median and max wall time and the harness
process's peak resident set size (its children — searchd, the fault proxy,
projectors — are separate processes and not counted). Bundles go under
--root (a temporary directory, removed afterwards, by default).`,
		RunE: func(c *cobra.Command, args []string) error {
			if runs < 1 {
				return usageErr("--runs must be ≥ 1")
			}
			if len(args) == 0 {
				args = []string{"es_429_inject", "es_write_block_4xx", "es_bulk_partial"}
			}
			return runBenchDrill(c.Context(), g, args, runs, root)
		},
	}
	c.Flags().IntVar(&runs, "runs", 3, "runs per scenario; medians are printed")
	c.Flags().StringVar(&root, "root", "", "evidence root (default: a temporary directory)")
	return c
}

type drillSample struct {
	wall    time.Duration
	maxRSS  int64 // KiB
	verdict int
}

func runBenchDrill(ctx context.Context, g *globals, ids []string, runs int, root string) error {
	bin, err := os.Executable()
	if err != nil {
		return setupErr("find the firedrill binary", err)
	}
	if root == "" {
		if root, err = os.MkdirTemp("", "firedrill-bench-drill-"); err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(root) }()
	}
	samples := map[string][]drillSample{}
	for i := range runs {
		for _, id := range ids {
			s, err := benchOneDrill(ctx, bin, id, root)
			if err != nil {
				return err
			}
			fprintf(g.stderr, "round %d/%d  %-20s %6.2fs  %6.1f MiB  exit %d\n", i+1, runs, id, s.wall.Seconds(), float64(s.maxRSS)/1024, s.verdict)
			samples[id] = append(samples[id], s)
		}
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fprintf(tw, "scenario\truns\tmedian wall\tmax wall\tmedian peak RSS\tmax peak RSS\texits\t\n")
	for _, id := range ids {
		ss := samples[id]
		walls := make([]time.Duration, len(ss))
		rss := make([]int64, len(ss))
		exits := make([]string, len(ss))
		for i, s := range ss {
			walls[i], rss[i], exits[i] = s.wall, s.maxRSS, fmt.Sprint(s.verdict)
		}
		slices.Sort(walls)
		slices.Sort(rss)
		fprintf(tw, "%s\t%d\t%.2fs\t%.2fs\t%.1f MiB\t%.1f MiB\t%s\t\n", id, len(ss), walls[len(walls)/2].Seconds(), walls[len(walls)-1].Seconds(),
			float64(rss[len(rss)/2])/1024, float64(rss[len(rss)-1])/1024, strings.Join(exits, ","))
	}
	return tw.Flush()
}

// benchOneDrill runs one drill as a child and reads its wall time and peak RSS.
func benchOneDrill(ctx context.Context, bin, id, root string) (drillSample, error) {
	cmd := exec.CommandContext(ctx, bin, "drill", id, "--root", root, "--label", "bench")
	cmd.Env = os.Environ()
	start := time.Now()
	err := cmd.Run()
	s := drillSample{wall: time.Since(start)}
	if cmd.ProcessState == nil {
		return s, fmt.Errorf("drill %s: %w", id, err)
	}
	s.verdict = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.maxRSS = ru.Maxrss
	}
	if s.verdict == exitUsage {
		return s, fmt.Errorf("drill %s: setup failed (exit 3); run 'firedrill drill %s' to see why", id, id)
	}
	return s, nil
}
