package main

import (
	"errors"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"firedrill/drill"
	"firedrill/drill/bundle"
)

// pickFlags choose one run of a scenario: --run-id, or the newest complete
// run within --since.
type pickFlags struct {
	rootFlags
	runID, since string
	// stderr, when set, hears when a newer run than the one picked is not complete.
	stderr io.Writer
}

func (f *pickFlags) register(c *cobra.Command) {
	f.rootFlags.register(c)
	c.Flags().StringVar(&f.runID, "run-id", "", "the run to read (default: the newest complete run within --since)")
	c.Flags().StringVar(&f.since, "since", "", "only runs started within this age (e.g. 10m, 2h, 7d); default: any age")
}

// pick finds the run.
func (f *pickFlags) pick(id string) (bundle.Bundle, error) {
	if err := bundle.CheckName("lab", f.lab); err != nil {
		return bundle.Bundle{}, usageErr("--lab: %v", err)
	}
	if err := bundle.CheckName("scenario", id); err != nil {
		return bundle.Bundle{}, usageErr("scenario: %v", err)
	}
	var since time.Duration
	if f.since != "" {
		if f.runID != "" {
			return bundle.Bundle{}, usageErr("give --run-id or --since, not both")
		}
		d, err := parseAge(f.since)
		if err != nil {
			return bundle.Bundle{}, usageErr("--since %q: %v", f.since, err)
		}
		since = d
	}
	markAbandoned(f.stderr, f.root, f.lab, id)
	r, err := bundle.Find(f.root, f.lab, id, f.runID, since, time.Now())
	if errors.Is(err, bundle.ErrNoRun) {
		return bundle.Bundle{}, usageErr("%v", err)
	}
	if err != nil {
		return bundle.Bundle{}, err
	}
	if f.runID == "" && f.stderr != nil {
		if runs, err := bundle.List(f.root, f.lab, id); err == nil && len(runs) > 0 && runs[0].RunID != r.RunID {
			fprintf(f.stderr, "note: the newest run %s is %s; this reads %s, the newest complete one (--run-id picks another)\n",
				runs[0].RunID, runs[0].State.State, r.RunID)
		}
	}
	return r.Bundle, nil
}

func newVerifyCmd(g *globals) *cobra.Command {
	f := pickFlags{stderr: g.stderr}
	c := &cobra.Command{
		Use:   "verify SCENARIO [--since 10m | --run-id ID]",
		Short: "Judge a run from its bundle alone and write _result.json",
		Long: `verify reads only the evidence bundle (it works offline on any old bundle),
evaluates the scenario's checks as the run recorded them — metric (PromQL by
Prometheus's engine over the bundle's TSDB), log, trace, consistency, fault —
and writes _result.json.

Exit codes: 0 PASS, 1 FAIL, 2 INCONCLUSIVE, 3 usage error or unreadable bundle.`,
		Args: scenarioArg,
		RunE: func(c *cobra.Command, args []string) error {
			b, err := f.pick(args[0])
			if err != nil {
				return err
			}
			res, err := drill.Verify(c.Context(), b)
			if err != nil {
				return setupErr("verify", err)
			}
			printResult(g.stdout, res)
			return verdictErr(res)
		},
	}
	f.register(c)
	return c
}

// printResult shows the checks and the verdict.
func printResult(w io.Writer, res drill.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintf(tw, "CHECK\tKIND\tOBSERVED\tEXPECTED\tRESULT\n")
	for _, c := range res.Checks {
		mark := "pass"
		if !c.Pass {
			mark = "FAIL"
		}
		if c.Note != "" && !c.Pass {
			mark += " (" + c.Note + ")"
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Kind, c.Observed, c.Expected, mark)
	}
	_ = tw.Flush()
	fprintf(w, "%s %s: %s\n  %s\n", res.Verdict, res.Scenario, res.RunID, res.Why)
}

// verdictErr maps a verdict to its exit code.
func verdictErr(res drill.Result) error {
	switch res.Verdict {
	case drill.VerdictPass:
		return nil
	case drill.VerdictFail:
		return &exitError{code: exitFail, err: errors.New(res.Scenario + ": FAIL"), silent: true}
	}
	return &exitError{code: exitInconclusive, err: errors.New(res.Scenario + ": INCONCLUSIVE"), silent: true}
}

// markAbandoned records runs whose harness died as incomplete, and says so.
func markAbandoned(w io.Writer, root, lab, scenario string) {
	marked, err := bundle.MarkAbandoned(root, lab, scenario, time.Now())
	if w == nil {
		return
	}
	for _, r := range marked {
		fprintf(w, "note: run %s: %s; marked incomplete\n", r.RunID, r.State.Why)
	}
	if err != nil {
		fprintf(w, "warning: %v\n", err)
	}
}
