package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"firedrill/drill"
)

func newDrillCmd(g *globals) *cobra.Command {
	var f runFlags
	var all bool
	c := &cobra.Command{
		Use:   "drill SCENARIO|--all [run flags]",
		Short: "Run, verify and export one scenario or the whole catalog, then print a verdict table",
		Long: `drill runs each scenario (firedrill run), judges it (firedrill verify) and
packs its evidence (firedrill export), then prints one line per scenario.

Exit codes: the worst of the runs in the order 3 > 4 > 1 > 2 > 0
(0 PASS, 1 FAIL, 2 INCONCLUSIVE, 3 usage or setup error).`,
		Args: func(c *cobra.Command, args []string) error {
			if all == (len(args) == 1) || len(args) > 1 {
				return usageErr("drill takes one scenario id or --all")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			ids := args
			if all {
				if f.from != "" {
					return usageErr("--from re-runs one bundle: name its scenario instead of --all")
				}
				cat, err := loadCatalog(c, f.scenarios)
				if err != nil {
					return err
				}
				ids = cat.IDs()
			}
			return drillAll(c, g, f, ids)
		},
	}
	f.register(c)
	c.Flags().BoolVar(&all, "all", false, "every scenario of the catalog, in priority order")
	return c
}

type drillRow struct {
	id, verdict, runID, why string
	code                    int
}

func drillAll(c *cobra.Command, g *globals, f runFlags, ids []string) error {
	var rows []drillRow
	worst := exitOK
	for i, id := range ids {
		fprintf(g.stderr, "\n### drill %d/%d: %s\n", i+1, len(ids), id)
		row := drillOne(c, g, f, id)
		rows = append(rows, row)
		if worse(row.code, worst) {
			worst = row.code
		}
		if c.Context().Err() != nil {
			break
		}
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fprintf(tw, "\nSCENARIO\tVERDICT\tRUN\tWHY\n")
	for _, r := range rows {
		fprintf(tw, "%s\t%s\t%s\t%s\n", r.id, r.verdict, r.runID, r.why)
	}
	_ = tw.Flush()
	if worst == exitOK {
		return nil
	}
	return &exitError{code: worst, err: fmt.Errorf("drill: worst exit code %d", worst), silent: true}
}

// drillOne runs, verifies and exports one scenario.
func drillOne(c *cobra.Command, g *globals, f runFlags, id string) drillRow {
	row := drillRow{id: id}
	b, err := runOne(c, g, f, id)
	row.runID = b.RunID
	if err != nil {
		row.verdict, row.code, row.why = "ERROR", exitCode(err), err.Error()
		if row.code == exitUsage {
			row.verdict = "SETUP"
		}
		fprintf(g.stderr, "run: %v\n", err)
		if b.RunID == "" {
			return row
		}
	}
	if row.code == exitUsage {
		return row // no stack ran: nothing to judge
	}
	// A run that broke after setup (a crashed child, Ctrl-C) left an
	// incomplete bundle: verify judges it (INCONCLUSIVE), it is no FAIL.
	res, verr := drill.Verify(c.Context(), b)
	if verr != nil {
		row.verdict, row.code, row.why = "ERROR", exitUsage, "verify: "+verr.Error()
		return row
	}
	printResult(g.stdout, res)
	row.verdict, row.why = res.Verdict, res.Why
	row.code = exitOK
	var ee *exitError
	if verr := verdictErr(res); errors.As(verr, &ee) {
		row.code = ee.code
	}
	if xerr := exportRun(c.Context(), g, b); xerr != nil {
		fprintf(g.stderr, "export: %v\n", xerr)
	}
	return row
}
