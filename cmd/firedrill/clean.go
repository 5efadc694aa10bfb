package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"firedrill/drill/bundle"
)

// rootFlags are --root and --lab, taken by every drill command.
type rootFlags struct{ root, lab string }

func (r *rootFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&r.root, "root", envOr("FIREDRILL_ROOT", bundle.DefaultRoot), "evidence root (env FIREDRILL_ROOT)")
	c.Flags().StringVar(&r.lab, "lab", bundle.DefaultLab, "lab id: a group of runs under the root")
}

func newCleanCmd(g *globals) *cobra.Command {
	var rf rootFlags
	var keepLast int
	var olderThan string
	var dryRun bool
	c := &cobra.Command{
		Use:   "clean [SCENARIO] --keep-last N | --older-than D [--dry-run]",
		Short: "Prune old evidence bundles (never outside the root, never a run in progress)",
		Long: `clean removes run directories under <root>/<lab>/<scenario>/: all but the
newest --keep-last N of each scenario, or those started more than
--older-than D ago (30m, 12h, 7d). It only removes real directories named
like a run id inside the root — never through a symlink, never a run whose
process is still running.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr("clean takes at most one scenario, got %q", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			sc := ""
			if len(args) == 1 {
				sc = args[0]
				if err := bundle.CheckName("scenario", sc); err != nil {
					return usageErr("%v", err)
				}
			}
			if err := bundle.CheckName("lab", rf.lab); err != nil {
				return usageErr("--lab: %v", err)
			}
			var older time.Duration
			if olderThan != "" {
				var err error
				if older, err = parseAge(olderThan); err != nil {
					return usageErr("--older-than %q: %v", olderThan, err)
				}
			}
			removed, skipped, err := bundle.Clean(rf.root, rf.lab, sc, bundle.CleanPolicy{KeepLast: keepLast, OlderThan: older, DryRun: dryRun}, time.Now())
			if err != nil {
				return usageErr("clean: %v", err)
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			for _, p := range removed {
				fprintf(g.stdout, "%s %s (%s)\n", verb, p.Run.Dir(), p.Reason)
			}
			for _, p := range skipped {
				fprintf(g.stdout, "kept %s: %s\n", p.Run.Dir(), p.Reason)
			}
			fprintf(g.stdout, "%s %d run(s), kept %d in progress or unsafe\n", verb, len(removed), len(skipped))
			return nil
		},
	}
	rf.register(c)
	c.Flags().IntVar(&keepLast, "keep-last", 0, "keep the newest N runs of each scenario")
	c.Flags().StringVar(&olderThan, "older-than", "", "remove runs started more than this ago (30m, 12h, 7d)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "only print what would be removed")
	return c
}

// parseAge reads a Go duration or whole days ("7d").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("want a whole number of days ≥ 1, e.g. 7d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("want a positive duration such as 30m, 12h or 7d")
	}
	return v, nil
}
