package main

import (
	"github.com/spf13/cobra"

	"firedrill/load"
	"firedrill/outbox"
	"firedrill/store"
)

func newLoadCmd(g *globals) *cobra.Command {
	var dsn string
	var p load.Profile
	var batch int
	var migrate bool
	c := &cobra.Command{
		Use:   "load",
		Short: "Write a deterministic create/update/delete mix through the transactional writer",
		Long: `load writes source rows and their outbox events together, one transaction per
--batch changes: every entity created, then a seeded share updated, then a
seeded share deleted. The same --entities, --seed and --prefix always write
the same changes in the same order.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := p.Validate(); err != nil {
				return usageErr("%v", err)
			}
			if batch < 1 {
				return usageErr("--batch: got %d, want ≥ 1", batch)
			}
			s, err := openStore(c.Context(), dsn, outbox.Options{}, migrate)
			if err != nil {
				return err
			}
			defer s.Close()
			changes, counts := load.Plan(p)
			for i := 0; i < len(changes); i += batch {
				end := min(i+batch, len(changes))
				if _, err := s.Write(c.Context(), changes[i:end]); err != nil {
					return setupErr("write changes", err)
				}
			}
			fprintf(g.stdout, "wrote %d changes (%d creates, %d updates, %d deletes) to %s\n",
				len(changes), counts.Creates, counts.Updates, counts.Deletes, store.Redact(dsn))
			return nil
		},
	}
	f := c.Flags()
	dbFlag(f, &dsn)
	f.IntVar(&p.Entities, "entities", 100, "number of entities")
	f.Uint64Var(&p.Seed, "seed", 1, "seed of the mix")
	f.StringVar(&p.Prefix, "prefix", "e-", "entity id prefix (a drill puts its run id here)")
	f.StringVar(&p.Projection, "projection", outbox.DefaultProjection, "projection the events belong to")
	f.Float64Var(&p.UpdateRatio, "update-ratio", 0.3, "share of entities updated after creation")
	f.Float64Var(&p.DeleteRatio, "delete-ratio", 0.1, "share of entities deleted at the end")
	f.IntVar(&batch, "batch", 500, "changes per transaction")
	f.BoolVar(&migrate, "migrate", true, "apply the schema first")
	return c
}
