package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"firedrill/outbox"
	"firedrill/store"
)

func newDBCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Database administration"}
	var dsn string
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the outbox schema (idempotent, versioned)",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, err := openStore(c.Context(), dsn, outbox.Options{}, true)
			if err != nil {
				return err
			}
			defer s.Close()
			fprintf(g.stdout, "schema up to date: %s\n", store.Redact(dsn))
			return nil
		},
	}
	dbFlag(migrate.Flags(), &dsn)
	cmd.AddCommand(migrate)
	return cmd
}

// openStore opens dsn, and migrates it when asked; errors are setup errors
// that name the database with its password redacted.
func openStore(ctx context.Context, dsn string, opts outbox.Options, migrate bool) (outbox.Store, error) {
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts.Create = migrate // read-only commands never create a database
	s, err := store.Open(octx, dsn, opts)
	if err != nil {
		return nil, setupErr("open database "+store.Redact(dsn), err)
	}
	if migrate {
		if err := s.Migrate(octx); err != nil {
			_ = s.Close()
			return nil, setupErr("migrate database "+store.Redact(dsn), err)
		}
	}
	return s, nil
}
