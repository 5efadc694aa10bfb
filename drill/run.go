// Package drill is the drill harness: `run` starts a stack, takes a
// baseline, injects the scenario's fault, drives load through the writer,
// holds, reverts, drains within a deadline and collects metrics, logs,
// spans and a consistency snapshot into an evidence bundle; `verify` judges
// the bundle alone. Subpackages: scenario (the YAML catalog), bundle (the
// evidence layout), metrics (scrapes, TSDB, PromQL), traces (OTLP receiver,
// Jaeger export).
package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"firedrill/drill/bundle"
	"firedrill/drill/metrics"
	"firedrill/drill/scenario"
	"firedrill/drill/traces"
	"firedrill/fault"
	"firedrill/load"
	"firedrill/outbox"
	"firedrill/projector"
	"firedrill/search"
	"firedrill/store"
	"firedrill/telemetry"
)

// Options configure one run.
type Options struct {
	Scenario *scenario.Scenario
	// Recipe is the resolved fault recipe (scenario < env file < env < flags).
	Recipe fault.Recipe
	Env    Env
	Root   string
	Lab    string
	Label  string
	// Binary is the firedrill executable the stack's children run.
	Binary string
	// ProjectorArgs are extra projector arguments (FIREDRILL_PROJECTOR_ARGS).
	ProjectorArgs []string
	// StateDir holds the fault journal shared with `fault inject`.
	StateDir string
	// Out receives one line per phase.
	Out io.Writer
	// ScrapeInterval is the metrics period (≤ 500ms; default 250ms).
	ScrapeInterval time.Duration
}

// Phase is one step of a run, as _result.json and the report show it.
type Phase struct {
	Name       string    `json:"name"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Note       string    `json:"note,omitempty"`
}

// RunFile is _run.json: what verify needs to know about the run besides
// the raw evidence.
type RunFile struct {
	Scenario     string    `json:"scenario"`
	RunID        string    `json:"run_id"`
	LabID        string    `json:"lab_id"`
	Env          string    `json:"env"`
	Index        string    `json:"index"`
	EntityPrefix string    `json:"entity_prefix"`
	FaultKind    string    `json:"fault_kind"`
	FaultStart   time.Time `json:"fault_started_at"`
	FaultEnd     time.Time `json:"fault_ended_at"`
	Phases       []Phase   `json:"phases"`
	// Drained is false when the drain missed its deadline.
	Drained        bool    `json:"drained"`
	DrainDeadlineS float64 `json:"drain_deadline_s"`
	TimeToRecoverS float64 `json:"time_to_recover_s"`
	// Injected is what the injector counted (proof the fault fired).
	Injected   int64 `json:"fault_injected"`
	Projectors int   `json:"projectors"`
	// ProjectorArgs are the extra projector arguments in force
	// (stack.args, then FIREDRILL_PROJECTOR_ARGS), e.g. a --policy.
	ProjectorArgs []string `json:"projector_args,omitempty"`
	// Wiring names the stack's pieces, secrets redacted.
	Wiring   map[string]string `json:"wiring"`
	Versions map[string]string `json:"versions"`
	Notes    []string          `json:"notes,omitempty"`
}

// File names the harness adds to the bundle.
const (
	RunInfoFile     = "_run.json"
	ScenarioFile    = "_scenario.yaml"
	ConsistencyFile = "_consistency.json"
	SpansFile       = "spans.otlp.ndjson"
	JaegerSpansFile = "jaeger.json"
	ForwardLogFile  = "forwarded.ndjson"
)

type runner struct {
	o      Options
	b      bundle.Bundle
	info   RunFile
	stack  *stack
	store  outbox.Store
	engine *search.Client
	scr    *metrics.Scraper
	recv   *traces.Receiver
	plan   []outbox.Change
	// loadEnd is when the writer finished.
	loadEnd time.Time
	// reverted is set once the fault's revert succeeded.
	reverted bool
}

// Run performs one drill run and returns its bundle. An error of setup
// (preflight, a component that cannot start) wraps ErrSetup; the bundle is
// then marked incomplete with the reason.
func Run(ctx context.Context, o Options) (bundle.Bundle, error) {
	if o.ScrapeInterval <= 0 {
		o.ScrapeInterval = 250 * time.Millisecond
	}
	s := o.Scenario
	runID, err := bundle.NewRunID(o.Label, s.ID, o.Env.Name, time.Now())
	if err != nil {
		return bundle.Bundle{}, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	b := bundle.Bundle{Root: o.Root, Lab: o.Lab, Scenario: s.ID, RunID: runID}
	if err := bundle.Create(b, time.Now()); err != nil {
		return b, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	r := &runner{o: o, b: b, info: RunFile{Scenario: s.ID, RunID: runID, LabID: o.Lab, Env: o.Env.Name,
		Index: strings.ToLower("fd-" + runID), EntityPrefix: runID + "-", FaultKind: string(s.Fault.Kind),
		DrainDeadlineS: s.Phases.DrainDeadlineS, Projectors: s.Stack.Projectors, Versions: versions()}}
	r.say("run %s → %s", runID, b.Dir())
	err = r.writeInputs()
	if err == nil {
		err = r.run(ctx)
	}
	cerr := r.close()
	state, why := bundle.StateComplete, ""
	if err != nil {
		state, why = bundle.StateIncomplete, err.Error()
		r.say("FAILED: %v", err)
	}
	if werr := bundle.WriteJSON(b.Path(RunInfoFile), r.info); werr != nil && err == nil {
		err = werr
	}
	if ferr := b.Finish(state, why, time.Now()); ferr != nil && err == nil {
		err = ferr
	}
	if err == nil && cerr != nil {
		err = cerr
	}
	return b, err
}

// ErrSetup marks a run that could not be set up (exit 3).
var ErrSetup = errors.New("drill setup")

func (r *runner) say(format string, a ...any) {
	if r.o.Out != nil {
		_, _ = fmt.Fprintf(r.o.Out, format+"\n", a...)
	}
}

// phase runs one step, timing and announcing it.
func (r *runner) phase(name string, f func() (string, error)) error {
	p := Phase{Name: name, StartedAt: time.Now().UTC()}
	r.say("== %-9s", name)
	note, err := f()
	p.FinishedAt, p.Note = time.Now().UTC(), note
	r.info.Phases = append(r.info.Phases, p)
	if note != "" {
		r.say("   %s (%.1fs)", note, p.FinishedAt.Sub(p.StartedAt).Seconds())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (r *runner) run(ctx context.Context) error {
	s := r.o.Scenario
	steps := []struct {
		name string
		f    func() (string, error)
	}{
		{"preflight", func() (string, error) { return r.preflight(ctx) }},
		{"start", func() (string, error) { return r.start(ctx) }},
		{"baseline", func() (string, error) { return r.baseline(ctx) }},
	}
	for _, st := range steps {
		if err := r.phase(st.name, st.f); err != nil {
			return err
		}
	}
	var revert fault.Revert
	if err := r.phase("inject", func() (string, error) {
		var err error
		revert, err = r.inject(ctx)
		return fmt.Sprintf("%s for %s", s.Fault.Kind, r.o.Recipe.Duration), err
	}); err != nil {
		return err
	}
	defer func() {
		if !r.reverted && revert != nil { // an error, a failed revert or Ctrl-C after inject
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fault.RevertTimeout)
			defer cancel()
			_ = revert(rctx)
		}
	}()
	rest := []struct {
		name string
		f    func() (string, error)
	}{
		{"load", func() (string, error) { return r.load(ctx) }},
		{"hold", func() (string, error) { return r.hold(ctx) }},
		{"revert", func() (string, error) {
			// The fault window's last scrape, taken while the fault still holds.
			if err := r.scr.ScrapeNow(ctx, MarkFaultEnd); err != nil {
				r.note("scrape at the end of the fault window: %v", err)
			}
			return r.revert(ctx, revert)
		}},
		{"drain", func() (string, error) { return r.drain(ctx) }},
		{"after", func() (string, error) { return r.after(ctx) }},
		{"collect", func() (string, error) { return r.collect(ctx) }},
	}
	for _, st := range rest {
		if err := r.phase(st.name, st.f); err != nil {
			return err
		}
	}
	return nil
}

// preflight checks everything the run needs before anything starts, so a
// missing piece fails in seconds and by name (seed malfunctions 1-3).
func (r *runner) preflight(ctx context.Context) (string, error) {
	if st, err := os.Stat(r.o.Binary); err != nil || st.IsDir() {
		return "", fmt.Errorf("%w: firedrill binary %s: not an executable file", ErrSetup, r.o.Binary)
	}
	s := r.o.Scenario
	if len(s.Stack.Command) > 0 {
		if _, err := exec.LookPath(s.Stack.Command[0]); err != nil {
			return "", fmt.Errorf("%w: stack.command %s: %w", ErrSetup, s.Stack.Command[0], err)
		}
	}
	kind := s.Fault.Kind
	if kind == "" {
		return "", fmt.Errorf("%w: scenario %s names no fault kind", ErrSetup, s.ID)
	}
	if !supported(kind) {
		return "", fmt.Errorf("%w: the harness cannot drive fault kind %s yet", ErrSetup, kind)
	}
	if r.o.Recipe.Duration <= 0 {
		return "", fmt.Errorf("%w: the recipe has no window: set fault.duration_s in the scenario or FAULT_DURATION_S", ErrSetup)
	}
	if hold := scenario.Duration(s.Phases.HoldS); hold > r.o.Recipe.Duration {
		return "", fmt.Errorf("%w: phases.hold_s (%s) is longer than the fault window FAULT_DURATION_S=%s (from %s): the fault would end before the hold; raise the duration or lower hold_s",
			ErrSetup, hold, r.o.Recipe.Duration, r.o.Recipe.Source(fault.VarDuration))
	}
	e := r.o.Env
	if e.OTLPEndpoint != "" && e.JaegerQueryURL == "" && hasCheck(s, scenario.CheckTrace) {
		return "", fmt.Errorf("%w: spans go to FIREDRILL_OTLP_ENDPOINT but no FIREDRILL_JAEGER_QUERY_URL says where to read them back, and scenario %s has trace checks", ErrSetup, s.ID)
	}
	for _, t := range []string{e.DBURL, e.SearchURL} {
		if t == "" || !strings.Contains(t, "://") {
			continue
		}
		if err := fault.CheckTarget(t, fault.AllowedTargets()); err != nil {
			return "", fmt.Errorf("%w: %w", ErrSetup, err)
		}
	}
	dbURL := e.DBURL
	if dbURL == "" {
		dbURL = r.b.Path("outbox.db")
	}
	st, err := store.Open(ctx, dbURL, outbox.Options{Create: true})
	if err != nil {
		return "", fmt.Errorf("%w: database FIREDRILL_DB_URL=%s: %w", ErrSetup, store.Redact(dbURL), err)
	}
	r.store = st
	if err := st.Migrate(ctx); err != nil {
		return "", fmt.Errorf("%w: database %s: migrate: %w", ErrSetup, store.Redact(dbURL), err)
	}
	// Drain, counts and replay read the whole outbox: it must hold nothing
	// unfinished (or, with a replay, no dead letter) of anybody else.
	stats, err := st.Stats(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: database %s: %w", ErrSetup, store.Redact(dbURL), err)
	}
	if n := stats.Counts[outbox.StatusPending] + stats.Counts[outbox.StatusProcessing]; n > 0 {
		return "", fmt.Errorf("%w: database %s holds %d unfinished events of other writers: drain them (firedrill projector) or give the drill its own database or schema", ErrSetup, store.Redact(dbURL), n)
	}
	if n := stats.Counts[outbox.StatusFailed]; n > 0 && slices.Contains(s.Fault.After, "replay") {
		return "", fmt.Errorf("%w: database %s holds %d dead letters and scenario %s replays dead letters after its window: list them (firedrill outbox failed), replay or remove them first, or give the drill its own database or schema", ErrSetup, store.Redact(dbURL), n, s.ID)
	}
	if e.SearchURL != "" {
		c, err := search.New(e.searchConfig(e.SearchURL))
		if err != nil {
			return "", fmt.Errorf("%w: FIREDRILL_SEARCH_URL: %w", ErrSetup, err)
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.Info(pctx)
		cancel()
		if err != nil {
			return "", fmt.Errorf("%w: search engine FIREDRILL_SEARCH_URL=%s: %w", ErrSetup, telemetry.RedactURL(e.SearchURL), err)
		}
	}
	if e.OTLPEndpoint != "" {
		if err := dialURL(ctx, e.OTLPEndpoint); err != nil {
			return "", fmt.Errorf("%w: trace collector FIREDRILL_OTLP_ENDPOINT=%s: %w", ErrSetup, telemetry.RedactURL(e.OTLPEndpoint), err)
		}
	}
	if e.JaegerQueryURL != "" {
		if err := waitHTTP(ctx, strings.TrimRight(e.JaegerQueryURL, "/")+"/api/services", 5*time.Second); err != nil {
			return "", fmt.Errorf("%w: Jaeger query FIREDRILL_JAEGER_QUERY_URL: %w", ErrSetup, err)
		}
	}
	return fmt.Sprintf("binary, fault %s, env %s, database %s ok", kind, e.Name, store.Redact(dbURL)), nil
}

// dialURL checks that the host:port of an http(s) URL accepts connections.
func dialURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("want an http(s)://host:port URL")
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return c.Close()
}

func (r *runner) start(ctx context.Context) (string, error) {
	s := r.o.Scenario
	r.stack = &stack{b: r.b, bin: r.o.Binary}
	r.stack.dbURL = r.o.Env.DBURL
	if r.stack.dbURL == "" {
		r.stack.dbURL = r.b.Path("outbox.db")
	}
	otlp := r.o.Env.OTLPEndpoint
	if otlp == "" {
		recv, err := traces.NewReceiver(r.b.Path(bundle.TracesDir, SpansFile))
		if err != nil {
			return "", fmt.Errorf("%w: trace receiver: %w", ErrSetup, err)
		}
		r.recv = recv
		if err := recv.Listen(ctx, "127.0.0.1:0"); err != nil {
			return "", fmt.Errorf("%w: trace receiver: %w", ErrSetup, err)
		}
		otlp = recv.URL()
	}
	if err := r.stack.startEngine(ctx, r.o.Env); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	var err error
	if r.engine, err = search.New(r.o.Env.searchConfig(r.stack.engineURL)); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if err := r.engine.CreateIndex(ctx, r.info.Index, []byte(projector.IndexMapping)); err != nil {
		return "", fmt.Errorf("%w: create index %s: %w", ErrSetup, r.info.Index, err)
	}
	sc := scenarioStack{count: s.Stack.Projectors, command: s.Stack.Command, args: s.Stack.Args, extra: r.o.ProjectorArgs}
	if err := r.stack.startProjectors(ctx, sc, r.o.Env, otlp, r.info.Index, r.info.RunID); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	targets := []metrics.Target{{Name: "fault-proxy", URL: r.stack.adminURL + "/metrics"}}
	for i, p := range r.stack.projectors {
		targets = append(targets, metrics.Target{Name: fmt.Sprintf("projector-%d", i), URL: "http://" + p.metrics + "/metrics"})
	}
	r.scr = metrics.NewScraper(r.b.Path(bundle.MetricsDir), targets, r.o.ScrapeInterval)
	r.scr.Start(ctx)
	r.info.ProjectorArgs = append(append([]string{}, s.Stack.Args...), r.o.ProjectorArgs...)
	r.info.Wiring = map[string]string{"db": store.Redact(r.stack.dbURL), "search": telemetry.RedactURL(r.stack.engineURL),
		"fault_proxy": r.stack.proxyURL, "otlp": telemetry.RedactURL(otlp)}
	if r.o.Env.JaegerQueryURL != "" {
		r.info.Wiring["jaeger_query"] = telemetry.RedactURL(r.o.Env.JaegerQueryURL)
	}
	return fmt.Sprintf("%d projector(s), engine %s, proxy %s, index %s", len(r.stack.projectors),
		telemetry.RedactURL(r.stack.engineURL), r.stack.proxyURL, r.info.Index), nil
}

func (r *runner) baseline(ctx context.Context) (string, error) {
	if err := sleepCtx(ctx, scenario.Duration(r.o.Scenario.Phases.BaselineS)); err != nil {
		return "", err
	}
	return "baseline scrape, before any stimulus", r.scr.ScrapeNow(ctx, MarkBaseline)
}

func (r *runner) load(ctx context.Context) (string, error) {
	l := r.o.Scenario.Load
	prof := load.Profile{Entities: l.Entities, Seed: l.Seed, Prefix: r.info.EntityPrefix, UpdateRatio: 0.3, DeleteRatio: 0.1}
	if l.UpdateRatio != nil {
		prof.UpdateRatio = *l.UpdateRatio
	}
	if l.DeleteRatio != nil {
		prof.DeleteRatio = *l.DeleteRatio
	}
	changes, counts := load.Plan(prof)
	r.plan = changes
	for i := 0; i < len(changes); i += 500 {
		if _, err := r.store.Write(ctx, changes[i:min(i+500, len(changes))]); err != nil {
			return "", fmt.Errorf("write load: %w", err)
		}
	}
	r.loadEnd = time.Now()
	return fmt.Sprintf("%d changes (%d creates, %d updates, %d deletes), source rows and events together", len(changes), counts.Creates, counts.Updates, counts.Deletes), nil
}

// hold keeps the fault until its window (the recipe's duration from
// injection) ends; preflight made sure hold_s fits in it.
func (r *runner) hold(ctx context.Context) (string, error) {
	d := time.Until(r.info.FaultStart.Add(r.o.Recipe.Duration))
	if min := time.Until(r.loadEnd.Add(scenario.Duration(r.o.Scenario.Phases.HoldS))); min > d {
		d = min
	}
	return fmt.Sprintf("held %.1fs, to the end of the %s window", max(d, 0).Seconds(), r.o.Recipe.Duration), sleepCtx(ctx, d)
}

// drain waits until nothing is pending or processing, or the deadline. The
// time to recover runs from the end of the fault window.
func (r *runner) drain(ctx context.Context) (string, error) {
	limit := scenario.Duration(r.o.Scenario.Phases.DrainDeadlineS)
	dctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	since := func() float64 { return time.Since(r.info.FaultEnd).Seconds() }
	var left int64
	for {
		st, err := r.store.Stats(dctx)
		if err == nil {
			left = st.Counts[outbox.StatusPending] + st.Counts[outbox.StatusProcessing]
			if left == 0 {
				r.info.Drained = true
				r.info.TimeToRecoverS = since()
				return fmt.Sprintf("drained %.1fs after the fault ended (%d done, %d dead letters)", r.info.TimeToRecoverS,
					st.Counts[outbox.StatusDone], st.Counts[outbox.StatusFailed]), nil
			}
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if dctx.Err() != nil || sleepCtx(dctx, 50*time.Millisecond) != nil {
			r.info.TimeToRecoverS = since()
			why := fmt.Sprintf("%d events left", left)
			if err != nil {
				why = "the outbox could not be read: " + err.Error()
			}
			return fmt.Sprintf("NOT drained by the %s deadline: %s", limit, why), nil
		}
	}
}

// after takes the after scrape once the projectors' counters have settled:
// a projector counts an outcome just after its ack commits, so the drain
// can see an empty outbox a moment before the last counts are exported.
func (r *runner) after(ctx context.Context) (string, error) {
	if err := sleepCtx(ctx, 3*r.o.ScrapeInterval); err != nil {
		return "", err
	}
	if err := r.scr.ScrapeNow(ctx, MarkAfter); err != nil {
		r.note("after scrape: %v", err) // the periodic scrapes remain; collect still runs
	}
	return "after scrape", nil
}

func (r *runner) close() error {
	var errs []error
	if r.scr != nil {
		r.scr.Stop()
	}
	if r.stack != nil {
		errs = append(errs, stopAll(r.stack.children, 10*time.Second))
	}
	if r.recv != nil {
		errs = append(errs, r.recv.Close())
	}
	if r.store != nil {
		errs = append(errs, r.store.Close())
	}
	return errors.Join(errs...)
}

func hasCheck(s *scenario.Scenario, kind string) bool {
	for _, c := range s.Checks {
		if c.Kind == kind {
			return true
		}
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// versions names what produced the evidence.
func versions() map[string]string {
	v := map[string]string{"go": runtime.Version(), "firedrill": "devel"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v["firedrill"] = s.Value
			}
		}
	}
	return v
}
