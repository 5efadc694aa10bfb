package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"firedrill/outbox"
)

func newOutboxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "outbox", Short: "Inspect the outbox and replay dead letters"}
	cmd.AddCommand(newOutboxStatsCmd(g), newOutboxFailedCmd(g), newOutboxReplayCmd(g))
	return cmd
}

func newOutboxStatsCmd(g *globals) *cobra.Command {
	var dsn string
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats",
		Short: "Count events by status; age of the oldest pending event; dead letters by reason",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, err := openStore(c.Context(), dsn, outbox.Options{}, false)
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.Stats(c.Context())
			if err != nil {
				return err
			}
			if asJSON {
				counts := map[string]int64{}
				for _, status := range outbox.Statuses {
					counts[string(status)] = st.Counts[status]
				}
				return writeJSON(g, map[string]any{"counts": counts,
					"oldest_pending_age_seconds": st.OldestPendingAge.Seconds(), "failed_by_reason": st.FailedByReason})
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			for _, status := range outbox.Statuses {
				fprintf(tw, "%s\t%d\n", status, st.Counts[status])
			}
			fprintf(tw, "oldest pending age\t%s\n", st.OldestPendingAge.Round(time.Millisecond))
			reasons := make([]string, 0, len(st.FailedByReason))
			for r := range st.FailedByReason {
				reasons = append(reasons, string(r))
			}
			sort.Strings(reasons)
			for _, r := range reasons {
				fprintf(tw, "failed{reason=%s}\t%d\n", r, st.FailedByReason[outbox.Reason(r)])
			}
			return tw.Flush()
		},
	}
	dbFlag(c.Flags(), &dsn)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newOutboxFailedCmd(g *globals) *cobra.Command {
	var dsn, reason string
	var limit int
	var asJSON bool
	c := &cobra.Command{
		Use:   "failed",
		Short: "List dead-lettered events, oldest first",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := reasonFlag(reason)
			if err != nil {
				return err
			}
			if limit < 0 {
				return usageErr("--limit: got %d, want ≥ 0 (0 lists all)", limit)
			}
			s, err := openStore(c.Context(), dsn, outbox.Options{}, false)
			if err != nil {
				return err
			}
			defer s.Close()
			evs, err := s.Failed(c.Context(), outbox.FailedFilter{Reason: r, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]map[string]any, len(evs))
				for i, ev := range evs {
					out[i] = map[string]any{"id": ev.ID, "entity_id": ev.EntityID, "op": ev.Op, "version": ev.Version,
						"projection": ev.Projection, "attempts": ev.Attempts, "last_reason": ev.LastReason,
						"last_error": ev.LastError, "created_at": ev.CreatedAt.UTC(), "updated_at": ev.UpdatedAt.UTC()}
				}
				return writeJSON(g, out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fprintf(tw, "ID\tENTITY\tOP\tVERSION\tATTEMPTS\tREASON\tERROR\n")
			for _, ev := range evs {
				fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", ev.ID, ev.EntityID, ev.Op, ev.Version, ev.Attempts,
					ev.LastReason, shorten(ev.LastError, 80))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fprintf(g.stderr, "%d dead letters\n", len(evs))
			return nil
		},
	}
	dbFlag(c.Flags(), &dsn)
	c.Flags().StringVar(&reason, "reason", "", "only this reason ("+reasonList()+")")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newOutboxReplayCmd(g *globals) *cobra.Command {
	var dsn, reason string
	var dryRun bool
	c := &cobra.Command{
		Use:   "replay",
		Short: "Re-queue dead letters (all, or one reason) with their attempts reset",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := reasonFlag(reason)
			if err != nil {
				return err
			}
			s, err := openStore(c.Context(), dsn, outbox.Options{}, false)
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := s.Replay(c.Context(), r, dryRun)
			if err != nil {
				return err
			}
			scope := "all reasons"
			if r != "" {
				scope = "reason " + string(r)
			}
			if dryRun {
				fprintf(g.stdout, "would re-queue %d dead letters (%s); nothing changed\n", n, scope)
			} else {
				fprintf(g.stdout, "re-queued %d dead letters (%s)\n", n, scope)
			}
			return nil
		},
	}
	dbFlag(c.Flags(), &dsn)
	c.Flags().StringVar(&reason, "reason", "", "only this reason ("+reasonList()+")")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be re-queued, change nothing")
	return c
}

func reasonFlag(s string) (outbox.Reason, error) {
	if s == "" {
		return "", nil
	}
	r, err := outbox.ParseReason(s)
	if err != nil {
		return "", usageErr("--reason: %v", err)
	}
	return r, nil
}

func reasonList() string {
	s := ""
	for i, r := range outbox.Reasons {
		if i > 0 {
			s += ", "
		}
		s += string(r)
	}
	return s
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func writeJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
