package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"firedrill/drill"
	"firedrill/drill/bundle"
	"firedrill/drill/scenario"
	"firedrill/fault"
	"firedrill/store"
	"firedrill/telemetry"
)

// runFlags are the flags of run and drill.
type runFlags struct {
	rootFlags
	envFile, label, from, scenarios, stateDir string
}

func (f *runFlags) register(c *cobra.Command) {
	f.rootFlags.register(c)
	fl := c.Flags()
	for _, rf := range recipeFlags {
		fl.String(rf.flag, "", rf.help)
	}
	fl.StringVar(&f.envFile, "env", "", "KEY=VALUE file naming real services (FIREDRILL_DB_URL, FIREDRILL_SEARCH_URL, …) and FAULT_* values; default: the embedded stack")
	fl.StringVar(&f.label, "label", envOr("FIREDRILL_LABEL", "drill"), "first part of the run id (env FIREDRILL_LABEL)")
	fl.StringVar(&f.from, "from", "", "re-run exactly the scenario and recipe recorded in this earlier bundle directory")
	scenariosFlag(c, &f.scenarios)
	stateDirFlag(c, &f.stateDir)
}

func newRunCmd(g *globals) *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run SCENARIO [--env FILE] [--duration S] [--label L] [--lab ID] [--from BUNDLE]",
		Short: "Run one drill: start the stack, inject the fault, drive load, revert, drain, collect evidence",
		Long: `run performs one drill and writes its evidence bundle under
<root>/<lab>/<scenario>/<run_id>/. Phases: preflight, start, baseline,
inject, load, hold, revert, drain, after, collect — each shown as it runs.
The verdict comes from 'firedrill verify'; 'firedrill drill' does both.

Recipe precedence: scenario YAML < --env file < process environment < flags.
Exit codes: 0 the run completed, 1 it failed after setup, 3 usage or setup error.`,
		Args: scenarioArg,
		RunE: func(c *cobra.Command, args []string) error {
			_, err := runOne(c, g, f, args[0])
			return err
		},
	}
	f.register(c)
	return c
}

// scenarioArg wants exactly one scenario.
func scenarioArg(c *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErr("%s needs one scenario id (see 'firedrill list'), got %d arguments", c.CommandPath(), len(args))
	}
	return nil
}

// runOne resolves the scenario, recipe and environment, then runs the drill.
func runOne(c *cobra.Command, g *globals, f runFlags, id string) (bundle.Bundle, error) {
	o, err := runOptions(c, g, f, id)
	if err != nil {
		return bundle.Bundle{}, err
	}
	unlock, err := lockStack(o, f.stateDir)
	if err != nil {
		return bundle.Bundle{}, err
	}
	defer unlock()
	recoverJournal(c.Context(), g, fault.Journal{Dir: o.StateDir})
	markAbandoned(g.stderr, o.Root, o.Lab, o.Scenario.ID)
	b, err := drill.Run(c.Context(), o)
	switch {
	case errors.Is(err, drill.ErrSetup):
		return b, &exitError{code: exitUsage, err: err}
	case err != nil:
		return b, err
	}
	fprintf(g.stderr, "run complete: %s\n", b.Dir())
	return b, nil
}

func runOptions(c *cobra.Command, g *globals, f runFlags, id string) (drill.Options, error) {
	if err := bundle.CheckName("lab", f.lab); err != nil {
		return drill.Options{}, usageErr("--lab: %v", err)
	}
	if err := bundle.CheckName("label", f.label); err != nil {
		return drill.Options{}, usageErr("--label: %v", err)
	}
	s, recipe, err := scenarioAndRecipe(c, f, id)
	if err != nil {
		return drill.Options{}, err
	}
	vars := map[string]string{}
	if f.envFile != "" {
		if vars, err = readEnvFile(f.envFile); err != nil {
			return drill.Options{}, usageErr("--env: %v", err)
		}
	}
	get := func(k string) string { // env file < process environment (set empty, it still wins)
		if v, ok := os.LookupEnv(k); ok {
			return v
		}
		return vars[k]
	}
	env := drill.Env{Name: "embedded", DBURL: get("FIREDRILL_DB_URL"), SearchURL: get("FIREDRILL_SEARCH_URL"),
		OTLPEndpoint: get("FIREDRILL_OTLP_ENDPOINT"), JaegerQueryURL: get("FIREDRILL_JAEGER_QUERY_URL"),
		SearchUsername: get("FIREDRILL_SEARCH_USERNAME"), SearchPassword: get("FIREDRILL_SEARCH_PASSWORD"),
		SearchAPIKey: get("FIREDRILL_SEARCH_API_KEY"), SearchCAFile: get("FIREDRILL_SEARCH_CA_FILE")}
	switch {
	case f.envFile != "":
		env.Name = envName(f.envFile)
	case env.DBURL != "" || env.SearchURL != "" || env.OTLPEndpoint != "":
		env.Name = "env" // real services named by the process environment
	}
	bin, err := os.Executable()
	if err != nil {
		return drill.Options{}, setupErr("find the firedrill binary", err)
	}
	return drill.Options{Scenario: s, Recipe: recipe, Env: env, Root: f.root, Lab: f.lab, Label: f.label, Binary: bin,
		ProjectorArgs: strings.Fields(get("FIREDRILL_PROJECTOR_ARGS")), StateDir: journalAt(f.stateDir).Dir, Out: g.stderr}, nil
}

// scenarioAndRecipe reads the scenario (from the catalog, or as recorded in
// --from's bundle) and resolves its recipe.
func scenarioAndRecipe(c *cobra.Command, f runFlags, id string) (*scenario.Scenario, fault.Recipe, error) {
	if f.from != "" {
		for _, rf := range recipeFlags {
			if c.Flags().Changed(rf.flag) {
				return nil, fault.Recipe{}, usageErr("--from re-runs a recorded recipe exactly: drop --%s", rf.flag)
			}
		}
		return fromBundle(f.from, id)
	}
	cat, err := loadCatalog(c, f.scenarios)
	if err != nil {
		return nil, fault.Recipe{}, err
	}
	s, err := cat.Get(id)
	if err != nil {
		return nil, fault.Recipe{}, usageErr("%v", err)
	}
	layers, err := recipeLayers(c, f.envFile)
	if err != nil {
		return nil, fault.Recipe{}, err
	}
	r, err := fault.Resolve(append([]fault.Layer{s.RecipeLayer()}, layers...)...)
	if err != nil {
		return nil, r, usageErr("%v", err)
	}
	if r.Scenario != s.ID {
		return nil, r, usageErr("the command names scenario %s but FAULT_SCENARIO=%s (from %s); drop one or make them agree",
			s.ID, r.Scenario, r.Source(fault.VarScenario))
	}
	return s, r, nil
}

// fromBundle reads the scenario and recipe an earlier run recorded.
func fromBundle(dir, id string) (*scenario.Scenario, fault.Recipe, error) {
	y, err := os.ReadFile(filepath.Join(dir, drill.ScenarioFile))
	if err != nil {
		return nil, fault.Recipe{}, usageErr("--from %s: %v (not a run directory?)", dir, err)
	}
	s, err := scenario.Parse(filepath.Join(dir, drill.ScenarioFile), y)
	if err != nil {
		return nil, fault.Recipe{}, usageErr("--from: %v", err)
	}
	if s.ID != id {
		return nil, fault.Recipe{}, usageErr("--from %s is a run of %s, not %s", dir, s.ID, id)
	}
	var r fault.Recipe
	if err := bundle.ReadJSON(filepath.Join(dir, bundle.RecipeFile), &r); err != nil {
		return nil, r, usageErr("--from %s: recipe: %v", dir, err)
	}
	return s, r, nil
}

var envNameRe = regexp.MustCompile(`[^a-z0-9_.-]+`)

// envName is the env part of run ids: the env file's name without extension.
func envName(path string) string {
	n := strings.ToLower(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
	n = strings.Trim(envNameRe.ReplaceAllString(n, "-"), "-.")
	if n == "" {
		return "env"
	}
	return n
}

// lockStack keeps two drills off one real stack: an flock held for the
// run on a file in the state dir named after the stack itself (its
// database and engine, redacted), so two env files or two evidence roots
// naming the same services still exclude each other. Embedded stacks are
// the run's own and need none.
func lockStack(o drill.Options, stateDir string) (func(), error) {
	if o.Env.DBURL == "" && o.Env.SearchURL == "" {
		return func() {}, nil
	}
	dir := filepath.Join(stateDir, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, setupErr("stack lock", err)
	}
	id := store.Redact(o.Env.DBURL) + " " + telemetry.RedactURL(o.Env.SearchURL)
	sum := sha256.Sum256([]byte(id))
	path := filepath.Join(dir, "stack-"+hex.EncodeToString(sum[:8])+".lock")
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, setupErr("stack lock", err)
	}
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = fh.Close()
		return nil, usageErr("another drill holds the stack %s (lock %s: %s); wait for it to finish", id, path, strings.TrimSpace(string(holder)))
	}
	_ = fh.Truncate(0)
	_, _ = fmt.Fprintf(fh, "pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	return func() {
		_ = syscall.Flock(int(fh.Fd()), syscall.LOCK_UN)
		_ = fh.Close()
	}, nil
}
