package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"firedrill/telemetry"
)

// globals are the flags every command takes.
type globals struct {
	stdout, stderr io.Writer
	logLevel       string
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "firedrill",
		Short: "Failure drills as code for an outbox → search projection",
		Long: `firedrill runs failure drills against a transactional outbox projected into
Elasticsearch/OpenSearch, and ships the projector it drills.

Exit codes: 0 PASS/ok, 1 FAIL, 2 INCONCLUSIVE, 3 usage or setup error, 4 gate flake.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%s: %v (see %s --help)", c.CommandPath(), err, c.CommandPath())
	})
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", envOr("FIREDRILL_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env FIREDRILL_LOG_LEVEL)")
	root.AddCommand(newProjectorCmd(g), newDBCmd(g), newLoadCmd(g), newOutboxCmd(g), newBenchCmd(g), newSearchdCmd(g), newFaultCmd(g), newListCmd(g), newCleanCmd(g),
		newRunCmd(g), newVerifyCmd(g), newExportCmd(g), newDrillCmd(g))
	return root
}

func (g *globals) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, usageErr("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	return telemetry.NewLogger(g.stderr, lvl), nil
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// dbFlag registers --db with its environment default.
func dbFlag(fs *pflag.FlagSet, dst *string) {
	fs.StringVar(dst, "db", envOr("FIREDRILL_DB_URL", "firedrill.db"),
		"outbox database: postgres://… URL, or a SQLite file path (env FIREDRILL_DB_URL)")
}

// noArgs is cobra.NoArgs with an exit-3 message.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %q", c.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

func fprintf(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }
