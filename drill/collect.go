package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"firedrill/drill/bundle"
	"firedrill/drill/traces"
	"firedrill/telemetry"
)

// Marks the harness records among the scrapes; verify measures metric
// windows between them.
const (
	MarkBaseline   = "baseline"
	MarkFaultStart = "fault_start"
	MarkFaultEnd   = "fault_end"
	MarkAfter      = "after"
)

// writeInputs records what the run was asked to do before it does it: the
// resolved recipe (each value with its source) and the scenario as run, so
// verify judges an old bundle by the checks it was run with.
func (r *runner) writeInputs() error {
	if err := bundle.WriteJSON(r.b.Path(bundle.RecipeFile), r.o.Recipe); err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	y, err := yaml.Marshal(r.o.Scenario)
	if err != nil {
		return fmt.Errorf("%w: scenario: %w", ErrSetup, err)
	}
	if err := os.WriteFile(r.b.Path(ScenarioFile), y, 0o644); err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return nil
}

// note records something the evidence lacks or a step that went wrong
// without failing the run; export and the report show notes.
func (r *runner) note(format string, a ...any) {
	n := fmt.Sprintf(format, a...)
	r.info.Notes = append(r.info.Notes, n)
	r.say("   note: %s", n)
}

// collect takes the consistency snapshot while the stack still runs, then
// stops the projectors so their last spans and log lines reach the bundle.
func (r *runner) collect(ctx context.Context) (string, error) {
	r.scr.Stop() // the after scrape was the last; stopped components are no gap
	ids := make([]string, 0, r.o.Scenario.Load.Entities)
	seen := map[string]bool{}
	for _, c := range r.plan {
		if !seen[c.EntityID] {
			seen[c.EntityID] = true
			ids = append(ids, c.EntityID)
		}
	}
	snap, err := takeSnapshot(ctx, r.store, r.engine, r.info.Index, ids)
	if err != nil {
		snap.Error = err.Error()
		r.note("consistency snapshot incomplete: %v", err)
	}
	if werr := bundle.WriteJSON(r.b.Path(ConsistencyFile), snap); werr != nil {
		return "", werr
	}
	c := snap.Count(nil)
	// Projectors flush their spans on SIGTERM; stop them before the receiver.
	if err := stopAll(r.stack.projectorChildren(), 10*time.Second); err != nil {
		r.note("%v", err)
	}
	spans := 0
	if r.recv != nil {
		if err := r.recv.Close(); err != nil {
			r.note("trace receiver: %v", err)
		}
		spans = r.recv.Spans()
		r.recv = nil
	} else {
		spans = r.fetchSpans(ctx)
	}
	return fmt.Sprintf("%d entities: lost %d, stale %d, ghost %d, dead-lettered %d, left %d; %d spans",
		len(ids), c.Lost, c.Stale, c.Ghost, c.DeadLettered, c.Pending+c.Processing, spans), nil
}

// fetchSpans reads the run's spans back from a real Jaeger into
// _traces/jaeger.json. Jaeger indexes spans a moment after they arrive, so
// it polls until two reads agree.
func (r *runner) fetchSpans(ctx context.Context) int {
	e := r.o.Env
	if e.JaegerQueryURL == "" {
		r.note("spans went to FIREDRILL_OTLP_ENDPOINT=%s and no FIREDRILL_JAEGER_QUERY_URL names where to read them back: trace checks cannot be judged",
			telemetry.RedactURL(e.OTLPEndpoint))
		return 0
	}
	start := r.info.Phases[0].StartedAt.Add(-time.Minute)
	var spans []traces.Span
	var err error
	last := -1
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		spans, err = traces.FetchJaeger(ctx, e.JaegerQueryURL, ProjectorService, r.info.RunID, start, time.Now().Add(time.Minute))
		if err == nil && len(spans) > 0 && len(spans) == last {
			break
		}
		last = len(spans)
		if sleepCtx(ctx, time.Second) != nil {
			break
		}
	}
	if err != nil {
		r.note("read the run's spans from Jaeger %s: %v", telemetry.RedactURL(e.JaegerQueryURL), err)
	}
	if werr := writeFile(r.b.Path(bundle.TracesDir, JaegerSpansFile), func(w io.Writer) error { return traces.WriteJaeger(w, spans) }); werr != nil {
		r.note("write %s: %v", JaegerSpansFile, werr)
	}
	return len(spans)
}

// ProjectorService is the service name the projector's spans carry.
const ProjectorService = "firedrill-projector"

// readSpans reads the spans of run runID (resource attribute
// firedrill.run_id) from the bundle: as the embedded receiver wrote them,
// or as read back from Jaeger. A bundle with neither is an error wrapping
// fs.ErrNotExist.
func readSpans(b bundle.Bundle, runID string) ([]traces.Span, error) {
	spans, err := traces.ReadFile(b.Path(bundle.TracesDir, SpansFile))
	if errors.Is(err, fs.ErrNotExist) {
		var f *os.File
		if f, err = os.Open(b.Path(bundle.TracesDir, JaegerSpansFile)); err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		spans, err = traces.ReadJaeger(f)
	}
	if err != nil {
		return nil, err
	}
	mine := spans[:0]
	for _, s := range spans {
		if s.Resource[traces.RunIDKey] == runID {
			mine = append(mine, s)
		}
	}
	return mine, nil
}
