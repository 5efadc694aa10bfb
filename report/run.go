package report

import "time"

// Verdicts a run can carry (DESIGN.md "Verdicts and exit codes").
const (
	VerdictPass         = "PASS"
	VerdictFail         = "FAIL"
	VerdictInconclusive = "INCONCLUSIVE"
)

// Run is everything the report shows about one drill run. The harness fills
// it from the bundle's _result.json, _recipe.json and metrics.
type Run struct {
	Scenario, RunID, LabID, Env string
	// Verdict is PASS, FAIL or INCONCLUSIVE; anything else is shown as given.
	Verdict string
	// Why explains the verdict in a sentence or two.
	Why                   string
	StartedAt, FinishedAt time.Time
	// TimeToRecover is nil when the run did not measure it.
	TimeToRecover *time.Duration
	// Checks are shown in the order given.
	Checks []Check
	// Phases are shown in the order given (preflight, start, ready, ...).
	Phases []Phase
	// FaultWindow is shaded on the timeline and on every plot; nil when the
	// fault window is unknown.
	FaultWindow *Window
	Plots       []Plot
	// Recipe is shown in the order given, each value with its source.
	Recipe []RecipeEntry
	// Versions maps a component to its version; shown sorted by component.
	Versions map[string]string
	// Notes say what could not be collected or exported.
	Notes []string
}

// Check is one machine check of the run and its outcome.
type Check struct {
	Name, Kind, Query, Observed, Expected string
	Pass                                  bool
	Note                                  string
}

// Phase is one step of the drill with the time it took.
type Phase struct {
	Name       string
	Start, End time.Time
}

// Window is a span of time. A zero End on a fault window means it was still
// open when the run ended.
type Window struct {
	Start, End time.Time
}

// Plot is one chart: series sharing a unit, drawn over time.
type Plot struct {
	Title, Unit string
	Series      []Series
}

// Series is one line of a plot. Points need not be sorted; points with a
// zero time or a NaN or infinite value are skipped.
type Series struct {
	Name   string
	Points []Point
}

// Point is one sample of a series.
type Point struct {
	T time.Time
	V float64
}

// RecipeEntry is one resolved recipe value and where it came from (scenario,
// env file, environment, flag, default).
type RecipeEntry struct {
	Name, Value, Source string
}

// Span returns the run's time span: StartedAt to FinishedAt, falling back to
// the earliest phase start and the latest phase end when those are zero. The
// report measures every offset ("+12s") from Span().Start.
func (r Run) Span() Window {
	s, e := r.StartedAt, r.FinishedAt
	for _, p := range r.Phases {
		if r.StartedAt.IsZero() && !p.Start.IsZero() && (s.IsZero() || p.Start.Before(s)) {
			s = p.Start
		}
		end := p.End
		if end.IsZero() {
			end = p.Start
		}
		if r.FinishedAt.IsZero() && !end.IsZero() && end.After(e) {
			e = end
		}
	}
	if !s.IsZero() && (e.IsZero() || e.Before(s)) {
		e = s
	}
	return Window{Start: s, End: e}
}
