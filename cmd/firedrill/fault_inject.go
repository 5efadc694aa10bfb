package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"firedrill/fault"
	"firedrill/fault/dblock"
	"firedrill/fault/httpproxy"
	"firedrill/fault/process"
	"firedrill/fault/tcp"
	"firedrill/fault/writeblock"
	"firedrill/search"
	"firedrill/store"
	"firedrill/telemetry"
)

type injectFlags struct {
	envFile                              string
	stateDir                             string
	proxy, searchURL, index, db          string
	toxiproxy, toxiproxyProxy            string
	pid                                  int
	status                               int
	retryAfter, latency, jitter, timeout time.Duration
	ackLost                              string
	progress                             time.Duration
}

// recipeFlags maps recipe flags to their FAULT_* variables.
var recipeFlags = []struct{ flag, v, help string }{
	{"duration", fault.VarDuration, "fault window: seconds (30, 2.5) or a duration (1m30s) (env FAULT_DURATION_S)"},
	{"rate", fault.VarRate, "share 0..1 of matching requests or bulk items to fault (env FAULT_RATE)"},
	{"every-n", fault.VarEveryN, "fault every Nth matching request or bulk item; wins over --rate (env FAULT_EVERY_N)"},
	{"match", fault.VarMatch, "key=v1,v2;key2=v3 with keys method path op index projection (env FAULT_MATCH)"},
	{"seed", fault.VarSeed, "seed of --rate's draws (env FAULT_SEED)"},
}

func newFaultInjectCmd(g *globals) *cobra.Command {
	var f injectFlags
	c := &cobra.Command{
		Use:   "inject [KIND|SCENARIO] --duration S [flags]",
		Short: "Apply one fault and hold it until its window ends or the command is interrupted",
		Long: `inject applies one fault, prints the resolved recipe, holds the fault for its
window (--duration / FAULT_DURATION_S, required) and reverts it — also on
Ctrl-C or SIGTERM. The fault is named by a kind or by a catalog scenario (its
default kind), as the argument or FAULT_SCENARIO; the two must agree.

Kinds and their targets:
  http_429 http_5xx http_latency http_reset http_refuse ack_lost
  bulk_item_429 bulk_item_400 bulk_item_mixed   --proxy ADMIN_URL of a 'firedrill fault proxy'
  write_block                                   --search-url URL --index NAME
  db_lock                                       --db DSN
  process_kill process_stop                     --pid PID (listed as pid:PID in FIREDRILL_ALLOW_TARGETS)
  tcp_down tcp_latency tcp_reset_peer tcp_timeout  --toxiproxy URL --toxiproxy-proxy NAME

Recipe precedence: --env file < process environment (FAULT_*) < flags.
Destructive faults refuse targets that are not loopback unless listed in
FIREDRILL_ALLOW_TARGETS. Faults that outlive a crash are journaled in
--state-dir first; every fault command repairs what a crashed one left.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr("fault inject takes one fault kind or scenario, got %q", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error { return runFaultInject(c, g, f, args) },
	}
	fl := c.Flags()
	for _, rf := range recipeFlags {
		fl.String(rf.flag, "", rf.help)
	}
	fl.StringVar(&f.envFile, "env", "", "KEY=VALUE file with FAULT_* (and FIREDRILL_*) values")
	stateDirFlag(c, &f.stateDir)
	fl.StringVar(&f.proxy, "proxy", os.Getenv("FIREDRILL_FAULT_PROXY"), "admin URL of the fault proxy (env FIREDRILL_FAULT_PROXY)")
	fl.StringVar(&f.searchURL, "search-url", envOr("FIREDRILL_SEARCH_URL", "http://127.0.0.1:9200"), "search engine URL for write_block (env FIREDRILL_SEARCH_URL)")
	fl.StringVar(&f.index, "index", "", "index (or pattern) for write_block")
	dbFlag(fl, &f.db)
	fl.IntVar(&f.pid, "pid", 0, "process for process_kill and process_stop")
	fl.StringVar(&f.toxiproxy, "toxiproxy", os.Getenv("FIREDRILL_TOXIPROXY_URL"), "Toxiproxy API URL (env FIREDRILL_TOXIPROXY_URL)")
	fl.StringVar(&f.toxiproxyProxy, "toxiproxy-proxy", "", "name of the Toxiproxy proxy to fault")
	fl.IntVar(&f.status, "status", 503, "status of http_5xx")
	fl.DurationVar(&f.retryAfter, "retry-after", time.Second, "Retry-After of http_429")
	fl.DurationVar(&f.latency, "latency", 500*time.Millisecond, "delay of http_latency and tcp_latency")
	fl.DurationVar(&f.jitter, "jitter", 0, "jitter of tcp_latency")
	fl.DurationVar(&f.timeout, "timeout", 0, "tcp_timeout: close connections after this (0: hold them until the window ends)")
	fl.StringVar(&f.ackLost, "ack-lost", "drop", "how ack_lost loses the answer: drop (close the connection) or 502")
	fl.DurationVar(&f.progress, "progress", 10*time.Second, "print a progress line this often while holding")
	return c
}

// resolveRecipe merges the env file, the process environment and the flags.
func resolveRecipe(c *cobra.Command, envFile string, extra ...fault.Layer) (fault.Recipe, error) {
	layers, err := recipeLayers(c, envFile)
	if err != nil {
		return fault.Recipe{}, err
	}
	r, err := fault.Resolve(append(layers, extra...)...)
	if err != nil {
		return r, usageErr("%v", err)
	}
	return r, nil
}

// recipeLayers are the env file's, the process environment's and the
// flags' FAULT_* values, lowest precedence first.
func recipeLayers(c *cobra.Command, envFile string) ([]fault.Layer, error) {
	var layers []fault.Layer
	if envFile != "" {
		vars, err := readEnvFile(envFile)
		if err != nil {
			return nil, usageErr("--env: %v", err)
		}
		layers = append(layers, fault.Layer{Source: fault.SourceEnvFile, Vars: vars})
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "FAULT_") {
			env[k] = v
		}
	}
	layers = append(layers, fault.Layer{Source: fault.SourceEnv, Vars: env})
	flags := map[string]string{}
	for _, rf := range recipeFlags {
		if c.Flags().Changed(rf.flag) {
			flags[rf.v], _ = c.Flags().GetString(rf.flag)
		}
	}
	return append(layers, fault.Layer{Source: fault.SourceFlag, Vars: flags}), nil
}

// faultKind resolves the kind from the argument and FAULT_SCENARIO.
func faultKind(arg string, r fault.Recipe) (fault.Kind, error) {
	scenarios := make([]string, 0, len(fault.ScenarioKinds))
	for s := range fault.ScenarioKinds {
		scenarios = append(scenarios, s)
	}
	slices.Sort(scenarios)
	known := func() string {
		return fmt.Sprintf("kinds: %v; scenarios: %s", fault.Kinds, strings.Join(scenarios, ", "))
	}
	scen := r.Scenario
	if scen != "" {
		if _, ok := fault.ScenarioKinds[scen]; !ok {
			return "", usageErr("FAULT_SCENARIO=%s (from %s) injects no fault of its own here; %s", scen, r.Source(fault.VarScenario), known())
		}
	}
	switch k := fault.Kind(arg); {
	case arg == "" && scen == "":
		return "", usageErr("name the fault: fault inject KIND|SCENARIO, or FAULT_SCENARIO; %s", known())
	case arg == "":
		return fault.ScenarioKinds[scen], nil
	case k.Valid():
		if scen != "" && fault.ScenarioKinds[scen] != k {
			return "", usageErr("FAULT_SCENARIO=%s (from %s) injects %s, but the command names %s; drop one or make them agree",
				scen, r.Source(fault.VarScenario), fault.ScenarioKinds[scen], k)
		}
		return k, nil
	}
	kind, ok := fault.ScenarioKinds[arg]
	if !ok {
		return "", usageErr("unknown fault %q; %s", arg, known())
	}
	if scen != "" && scen != arg {
		return "", usageErr("the command names scenario %s but FAULT_SCENARIO=%s (from %s); drop one or make them agree", arg, scen, r.Source(fault.VarScenario))
	}
	return kind, nil
}

func runFaultInject(c *cobra.Command, g *globals, f injectFlags, args []string) error {
	ctx := c.Context()
	r, err := resolveRecipe(c, f.envFile)
	if err != nil {
		return err
	}
	arg := ""
	if len(args) == 1 {
		arg = args[0]
	}
	kind, err := faultKind(arg, r)
	if err != nil {
		return err
	}
	if _, isScenario := fault.ScenarioKinds[arg]; isScenario && r.Scenario == "" {
		// Record the scenario the command named, as _recipe.json would.
		if r, err = resolveRecipe(c, f.envFile, fault.Layer{Source: fault.SourceFlag, Vars: map[string]string{fault.VarScenario: arg}}); err != nil {
			return err
		}
	}
	if r.Duration <= 0 {
		return usageErr("--duration (or FAULT_DURATION_S) is required: every fault has a window and reverts when it ends")
	}
	j := journalAt(f.stateDir)
	recoverJournal(ctx, g, j)
	inj, target, err := buildInjector(kind, r, f, &j)
	if err != nil {
		return err
	}
	rec, _ := json.Marshal(r)
	fprintf(g.stderr, "fault %s on %s for %s\nrecipe %s\n", kind, target, r.Duration, rec)
	revert, err := inj.Apply(ctx)
	if err != nil {
		if errors.Is(err, fault.ErrInvalid) || errors.Is(err, fault.ErrTargetRefused) {
			return usageErr("fault %s: %v", kind, err)
		}
		return fmt.Errorf("fault %s on %s: apply: %w", kind, target, err)
	}
	start := time.Now()
	fprintf(g.stderr, "applied at %s; reverts at %s (Ctrl-C reverts now)\n",
		start.UTC().Format(time.TimeOnly), start.Add(r.Duration).UTC().Format(time.TimeOnly))
	holdWithProgress(ctx, g, r.Duration, f.progress, func() string { return injectedSoFar(ctx, kind, f) })
	summary := injectedSoFar(ctx, kind, f)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fault.RevertTimeout)
	defer cancel()
	if err := revert(rctx); err != nil {
		return fmt.Errorf("fault %s on %s: REVERT FAILED: %w (run 'firedrill fault reset')", kind, target, err)
	}
	why := "window ended"
	if ctx.Err() != nil {
		why = "interrupted"
	}
	fprintf(g.stderr, "reverted after %.1fs (%s)%s\n", time.Since(start).Seconds(), why, summary)
	return nil
}

func holdWithProgress(ctx context.Context, g *globals, d, every time.Duration, extra func() string) {
	end := time.NewTimer(d)
	defer end.Stop()
	if every <= 0 {
		every = d
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-end.C:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			fprintf(g.stderr, "  holding: %.0fs left%s\n", (d - time.Since(start)).Seconds(), extra())
		}
	}
}

// injectedSoFar reads the proxy's count for HTTP kinds ("" otherwise).
func injectedSoFar(ctx context.Context, kind fault.Kind, f injectFlags) string {
	if !httpproxy.Handles(kind) {
		return ""
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	st, err := httpproxy.Client{Admin: f.proxy}.Status(sctx)
	w := st.Active
	if w == nil && len(st.History) > 0 {
		w = &st.History[len(st.History)-1] // the window just ended by itself
	}
	if err != nil || w == nil {
		return ""
	}
	return fmt.Sprintf("; matched %d, injected %d", w.Matched, w.Injected)
}

// buildInjector wires kind to its injector and target.
func buildInjector(kind fault.Kind, r fault.Recipe, f injectFlags, j *fault.Journal) (fault.Injector, string, error) {
	var inj fault.Injector
	var target string
	var err error
	switch {
	case kind == fault.KindWriteBlock:
		if f.index == "" {
			return nil, "", usageErr("write_block needs --index NAME (the index to block; a comma list or pattern works)")
		}
		sc := search.Config{URL: f.searchURL, Password: os.Getenv(writeblock.PasswordEnv), APIKey: os.Getenv(writeblock.APIKeyEnv)}
		inj, err = writeblock.New(writeblock.Config{Search: sc, Index: f.index, Journal: j})
		target = "index " + f.index + " on " + telemetry.RedactURL(f.searchURL)
	case kind == fault.KindDBLock:
		inj, err = dblock.New(dblock.Config{DSN: f.db, Journal: j})
		target = "outbox table in " + store.Redact(f.db)
	case kind == fault.KindProcessKill || kind == fault.KindProcessStop:
		// The command line has no children of its own: a pid must be listed.
		inj, err = process.New(process.Config{PID: f.pid, Kind: kind, AllowNonChild: process.Allowed(f.pid), Journal: j})
		target = fmt.Sprintf("process %d", f.pid)
		if err == nil && !process.Allowed(f.pid) {
			err = fmt.Errorf("%w: process %d: from the command line a process fault needs the pid listed in %s (e.g. %s=pid:%d)",
				fault.ErrTargetRefused, f.pid, fault.AllowTargetsEnv, fault.AllowTargetsEnv, f.pid)
		}
	case tcp.Handles(kind):
		if f.toxiproxy == "" || f.toxiproxyProxy == "" {
			return nil, "", usageErr("%s needs --toxiproxy URL (or FIREDRILL_TOXIPROXY_URL) and --toxiproxy-proxy NAME (see 'firedrill fault toxiproxy')", kind)
		}
		inj, err = tcp.New(tcp.Config{API: f.toxiproxy, Proxy: f.toxiproxyProxy, Kind: kind, Latency: f.latency, Jitter: f.jitter,
			Timeout: f.timeout, Journal: j})
		target = "toxiproxy proxy " + f.toxiproxyProxy + " at " + f.toxiproxy
	case httpproxy.Handles(kind):
		if f.proxy == "" {
			return nil, "", usageErr("%s needs --proxy ADMIN_URL (or FIREDRILL_FAULT_PROXY): the admin API of a running 'firedrill fault proxy'", kind)
		}
		spec := httpproxy.Spec{Kind: kind, Recipe: r, Status: f.status, RetryAfter: httpproxy.Duration(f.retryAfter),
			Latency: httpproxy.Duration(f.latency), AckLost: f.ackLost}
		if err := spec.WithDefaults().Validate(); err != nil {
			return nil, "", usageErr("%v", err)
		}
		return &httpproxy.Injector{Client: httpproxy.Client{Admin: f.proxy}, Spec: spec}, "fault proxy " + telemetry.RedactURL(f.proxy), nil
	default:
		return nil, "", usageErr("fault kind %s cannot be injected from the command line yet", kind)
	}
	if err != nil {
		return nil, "", usageErr("fault %s: %v", kind, err)
	}
	return inj, target, nil
}

// recoverJournal reverts faults a crashed process left, with a warning each.
func recoverJournal(ctx context.Context, g *globals, j fault.Journal) {
	done, err := j.Recover(ctx, repairers())
	for _, r := range done {
		fprintf(g.stderr, "warning: reverted a %s fault on %s left by process %d (started %s), which is gone\n",
			r.Kind, r.Target, r.OwnerPID, r.StartedAt.Format(time.RFC3339))
	}
	if err != nil {
		fprintf(g.stderr, "warning: fault journal %s: %v\n", j.Dir, err)
	}
}

// repairers reverts stale journal records by kind.
func repairers() map[fault.Kind]fault.Repairer {
	return map[fault.Kind]fault.Repairer{
		fault.KindWriteBlock:   writeblock.Repair,
		fault.KindDBLock:       dblock.Repair,
		fault.KindProcessStop:  process.Repair,
		fault.KindTCPDown:      tcp.Repair,
		fault.KindTCPLatency:   tcp.Repair,
		fault.KindTCPResetPeer: tcp.Repair,
		fault.KindTCPTimeout:   tcp.Repair,
	}
}

func toxiproxyStatus(ctx context.Context, api string) (any, error) { return tcp.Status(ctx, api) }

func toxiproxyReset(ctx context.Context, api string) error { return tcp.Reset(ctx, api) }
