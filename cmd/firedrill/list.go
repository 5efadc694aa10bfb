package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"firedrill/drill/scenario"
	"firedrill/scenarios"
)

// scenariosFlag registers --scenarios: a directory read over the built-in catalog.
func scenariosFlag(c *cobra.Command, dst *string) {
	c.Flags().StringVar(dst, "scenarios", envOr("FIREDRILL_SCENARIOS", "scenarios"),
		"directory of scenario YAML files read over the built-in catalog (env FIREDRILL_SCENARIOS; skipped when ./scenarios is absent)")
}

// loadCatalog reads the built-in scenarios, then dir's (when it exists or was named).
func loadCatalog(c *cobra.Command, dir string) (*scenario.Catalog, error) {
	sources := []scenario.Source{{FS: scenarios.FS, Dir: ".", Label: "built-in"}}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		sources = append(sources, scenario.Source{FS: os.DirFS(dir), Dir: ".", Label: dir})
	} else if c.Flags().Changed("scenarios") || os.Getenv("FIREDRILL_SCENARIOS") != "" {
		return nil, usageErr("--scenarios %s: not a directory", dir)
	}
	cat, err := scenario.Load(sources...)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return cat, nil
}

func newListCmd(g *globals) *cobra.Command {
	var dir string
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the drill scenarios: id, priority, fault, what must hold",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cat, err := loadCatalog(c, dir)
			if err != nil {
				return err
			}
			if asJSON {
				b, err := json.MarshalIndent(cat.All(), "", "  ")
				if err != nil {
					return err
				}
				fprintf(g.stdout, "%s\n", b)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fprintf(tw, "ID\tPRIORITY\tFAULT\tCHECKS\tFILE\tDESCRIPTION\n")
			for _, s := range cat.All() {
				fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.Priority, s.Fault.Kind, len(s.Checks), s.File, firstSentence(s.Description))
			}
			return tw.Flush()
		},
	}
	scenariosFlag(c, &dir)
	c.Flags().BoolVar(&asJSON, "json", false, "print the scenarios as JSON")
	return c
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}
