package main

import (
	"context"

	"github.com/spf13/cobra"

	"firedrill/drill"
	"firedrill/drill/bundle"
)

func newExportCmd(g *globals) *cobra.Command {
	f := pickFlags{stderr: g.stderr}
	c := &cobra.Command{
		Use:   "export SCENARIO [--since 10m | --run-id ID]",
		Short: "Pack a run's evidence: Jaeger trace JSON, an archive, and an offline report.html",
		Long: `export writes into the run's bundle: _exports/traces.jaeger.json (open it in
Jaeger's UI), _exports/<run_id>.tar.gz (the whole bundle), report.html
(verdict, checks, phase timeline, metric plots with the fault window shaded;
self-contained, opens offline) and _exports/_export_note.txt naming what
could not be exported.

Exit codes: 0 the export was written (notes included), 3 usage error.`,
		Args: scenarioArg,
		RunE: func(c *cobra.Command, args []string) error {
			b, err := f.pick(args[0])
			if err != nil {
				return err
			}
			return exportRun(c.Context(), g, b)
		},
	}
	f.register(c)
	return c
}

// exportRun exports b and says where everything went.
func exportRun(ctx context.Context, g *globals, b bundle.Bundle) error {
	x, err := drill.Export(ctx, b)
	if err != nil {
		return setupErr("export "+b.Dir(), err)
	}
	fprintf(g.stderr, "report  %s\narchive %s\n", x.Report, x.Archive)
	if x.Jaeger != "" {
		fprintf(g.stderr, "traces  %s\n", x.Jaeger)
	}
	for _, n := range x.Notes {
		fprintf(g.stderr, "note    %s\n", n)
	}
	return nil
}
