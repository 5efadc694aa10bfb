package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"firedrill/drill/bundle"
	"firedrill/drill/metrics"
	"firedrill/drill/scenario"
	"firedrill/drill/traces"
)

// Verdicts (DESIGN.md "Verdicts and exit codes").
const (
	VerdictPass         = "PASS"
	VerdictFail         = "FAIL"
	VerdictInconclusive = "INCONCLUSIVE"
)

// Result is _result.json.
type Result struct {
	Scenario       string            `json:"scenario"`
	RunID          string            `json:"run_id"`
	LabID          string            `json:"lab_id"`
	Env            string            `json:"env"`
	Verdict        string            `json:"verdict"`
	Pass           bool              `json:"pass"`
	Why            string            `json:"why"`
	Checks         []CheckResult     `json:"checks"`
	Phases         []Phase           `json:"phases"`
	TimeToRecoverS float64           `json:"time_to_recover_s"`
	Recipe         json.RawMessage   `json:"recipe"`
	Versions       map[string]string `json:"versions"`
	// Consistency are the counts behind the consistency checks.
	Consistency *Counts `json:"consistency,omitempty"`
}

// NotJudged is the observed value of a check the evidence cannot decide
// (a metric never exported, no spans collected, no snapshot): such a check
// does not pass, and without a failing check it makes the run INCONCLUSIVE.
const NotJudged = "n/a"

// CheckResult is one check's outcome.
type CheckResult struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Query    string `json:"query"`
	Observed string `json:"observed"`
	Expected string `json:"expected"`
	Pass     bool   `json:"pass"`
	Note     string `json:"note,omitempty"`
}

// evidence is what verify reads from a bundle.
type evidence struct {
	b        bundle.Bundle
	state    bundle.State
	info     RunFile
	scenario *scenario.Scenario
	db       *metrics.DB
	dbErr    error
	snap     *Snapshot
	spans    []traces.Span
	spansErr error
	// logs are the components' JSON log lines.
	logs    [][]byte
	logsErr error
	// resent are events sent again after they succeeded (from the logs).
	resent    []string
	resentErr error
}

// Verify judges the run in b from its bundle alone and writes _result.json.
// It fails only when the bundle cannot be read at all; missing evidence
// makes the checks that need it fail or the verdict INCONCLUSIVE, with why.
func Verify(ctx context.Context, b bundle.Bundle) (Result, error) {
	ev, err := readEvidence(b)
	if err != nil {
		return Result{}, err
	}
	if ev.db != nil {
		defer func() { _ = ev.db.Close() }()
	}
	res := Result{Scenario: ev.info.Scenario, RunID: ev.info.RunID, LabID: ev.info.LabID, Env: ev.info.Env,
		Phases: ev.info.Phases, TimeToRecoverS: ev.info.TimeToRecoverS, Versions: ev.info.Versions}
	if raw, err := os.ReadFile(b.Path(bundle.RecipeFile)); err == nil {
		res.Recipe = raw
	}
	if ev.snap != nil {
		c := ev.snap.Count(ev.resent)
		res.Consistency = &c
	}
	res.Checks = append(res.Checks, drainCheck(ev.info))
	for _, c := range ev.scenario.Checks {
		res.Checks = append(res.Checks, ev.check(ctx, c))
	}
	res.Verdict, res.Why = verdict(ev, res.Checks)
	res.Pass = res.Verdict == VerdictPass
	if err := bundle.WriteJSON(b.Path(bundle.ResultFile), res); err != nil {
		return res, err
	}
	return res, nil
}

func readEvidence(b bundle.Bundle) (*evidence, error) {
	ev := &evidence{b: b}
	var err error
	if ev.state, err = b.ReadState(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", b.Dir(), err)
	}
	if err := bundle.ReadJSON(b.Path(RunInfoFile), &ev.info); err != nil {
		return nil, fmt.Errorf("bundle %s: %s: %w (the run ended before it recorded itself)", b.Dir(), RunInfoFile, err)
	}
	y, err := os.ReadFile(b.Path(ScenarioFile))
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", b.Dir(), err)
	}
	if ev.scenario, err = scenario.Parse(b.Path(ScenarioFile), y); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", b.Dir(), err)
	}
	ev.db, ev.dbErr = metrics.Open(b.Path(bundle.MetricsDir))
	var snap Snapshot
	if err := bundle.ReadJSON(b.Path(ConsistencyFile), &snap); err == nil {
		ev.snap = &snap
	}
	ev.spans, ev.spansErr = readSpans(b, ev.info.RunID)
	if ev.logs, ev.logsErr = componentLogs(b); ev.logsErr == nil {
		ev.resent, ev.resentErr = resent(ev.logs)
	} else {
		ev.resentErr = ev.logsErr
	}
	return ev, nil
}

// drainCheck is implicit in every run: the outbox drained by the deadline.
func drainCheck(info RunFile) CheckResult {
	c := CheckResult{Name: "drained within the deadline", Kind: scenario.CheckConsistency, Query: "pending + processing events after revert",
		Expected: fmt.Sprintf("0 within %.0fs", info.DrainDeadlineS), Pass: info.Drained}
	if info.Drained {
		c.Observed = fmt.Sprintf("drained %.1fs after the fault", info.TimeToRecoverS)
	} else {
		c.Observed = fmt.Sprintf("not drained %.1fs after the fault", info.TimeToRecoverS)
	}
	return c
}

// verdict: INCONCLUSIVE when the run is not complete or the fault never
// fired (the run proved nothing), FAIL when any check failed, PASS when at
// least one check ran and all passed.
func verdict(ev *evidence, checks []CheckResult) (string, string) {
	if ev.state.State == bundle.StateRunning && !ev.state.InProgress() {
		return VerdictInconclusive, fmt.Sprintf("the harness (pid %d) died before the run finished: the evidence is incomplete", ev.state.PID)
	}
	if ev.state.State != bundle.StateComplete {
		why := "the run is " + ev.state.State
		if ev.state.Why != "" {
			why += ": " + ev.state.Why
		}
		return VerdictInconclusive, why
	}
	if ev.info.Injected <= 0 {
		return VerdictInconclusive, fmt.Sprintf("the fault %s never fired: the run proves nothing", ev.info.FaultKind)
	}
	var failed, unjudged []string
	for _, c := range checks {
		switch {
		case c.Observed == NotJudged:
			unjudged = append(unjudged, fmt.Sprintf("%s (%s)", c.Name, c.Note))
		case !c.Pass:
			failed = append(failed, fmt.Sprintf("%s (observed %s, expected %s)", c.Name, c.Observed, c.Expected))
		}
	}
	switch {
	case len(checks) == 0:
		return VerdictInconclusive, "no check ran: zero checks never PASS"
	case len(failed) > 0:
		return VerdictFail, fmt.Sprintf("%d of %d checks failed: %s", len(failed), len(checks), strings.Join(failed, "; "))
	case len(unjudged) > 0:
		return VerdictInconclusive, fmt.Sprintf("%d of %d checks could not be judged from the evidence: %s", len(unjudged), len(checks), strings.Join(unjudged, "; "))
	}
	return VerdictPass, fmt.Sprintf("all %d checks passed; fault %s fired %d times", len(checks), ev.info.FaultKind, ev.info.Injected)
}

// check evaluates one scenario check.
func (ev *evidence) check(ctx context.Context, c scenario.Check) CheckResult {
	r := CheckResult{Name: c.Name, Kind: c.Kind, Expected: c.Expect}
	var obs float64
	var err error
	switch c.Kind {
	case scenario.CheckMetric:
		obs, err = ev.metric(ctx, c, &r)
	case scenario.CheckLog:
		r.Query = "log lines where " + matchString(c.Match)
		var n int
		n, err = ev.logLines(c.Match)
		obs = float64(n)
	case scenario.CheckTrace:
		r.Query = "spans " + c.Span + " where " + matchString(c.Match)
		obs, err = ev.trace(c)
	case scenario.CheckConsistency:
		r.Query = "consistency " + c.Field
		obs, err = ev.consistency(c, &r)
	case scenario.CheckFault:
		r.Query = "injections counted by the " + ev.info.FaultKind + " injector"
		obs = float64(ev.info.Injected)
	default:
		err = fmt.Errorf("unknown check kind %q", c.Kind)
	}
	if err != nil {
		r.Observed, r.Note = NotJudged, err.Error()
		return r
	}
	r.Observed = strconv.FormatFloat(obs, 'f', -1, 64)
	ok, err := scenario.Holds(c.Expect, obs)
	if err != nil {
		r.Note = err.Error()
	}
	r.Pass = ok
	return r
}

func (ev *evidence) metric(ctx context.Context, c scenario.Check, r *CheckResult) (float64, error) {
	if ev.db == nil {
		return 0, fmt.Errorf("no metrics in the bundle: %w", ev.dbErr)
	}
	marks := ev.db.Marks()
	from, ok := marks[MarkBaseline]
	if !ok {
		return 0, errors.New("no baseline scrape in the bundle")
	}
	endMark := MarkAfter
	if c.Window == "fault" {
		endMark = MarkFaultEnd
	}
	to, ok := marks[endMark]
	if !ok {
		return 0, fmt.Errorf("no %s scrape in the bundle", endMark)
	}
	if c.Delta != "" {
		r.Query = fmt.Sprintf("change of %s from %s to %s", c.Delta, MarkBaseline, endMark)
		v, n, err := ev.db.Delta(ctx, c.Delta, from, to)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, fmt.Errorf("%s matches no series: the metric was never exported", c.Delta)
		}
		return v, nil
	}
	r.Query = fmt.Sprintf("%s at %s", c.Query, endMark)
	samples, err := ev.db.Query(ctx, c.Query, to)
	if err != nil {
		return 0, err
	}
	if len(samples) != 1 {
		return 0, fmt.Errorf("the query returned %d series; a metric check needs exactly one (wrap it in sum())", len(samples))
	}
	return samples[0].Value, nil
}

// logLines counts the components' JSON log lines whose fields equal every
// value of match.
func (ev *evidence) logLines(match map[string]string) (int, error) {
	if ev.logsErr != nil {
		return 0, ev.logsErr
	}
	n := 0
	for _, l := range ev.logs {
		var rec map[string]any
		if json.Unmarshal(l, &rec) == nil && fieldsMatch(rec, match) {
			n++
		}
	}
	return n, nil
}

func fieldsMatch(rec map[string]any, match map[string]string) bool {
	for k, want := range match {
		v, ok := rec[k]
		if !ok {
			return false
		}
		got := fmt.Sprint(v)
		if f, isNum := v.(float64); isNum {
			got = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if got != want {
			return false
		}
	}
	return true
}

func (ev *evidence) trace(c scenario.Check) (float64, error) {
	if ev.spansErr != nil {
		if errors.Is(ev.spansErr, fs.ErrNotExist) {
			return 0, errors.New("no spans were collected for the run")
		}
		return 0, ev.spansErr
	}
	return float64(len(traces.Filter(ev.spans, c.Span, c.Match))), nil
}

func (ev *evidence) consistency(c scenario.Check, r *CheckResult) (float64, error) {
	if ev.snap == nil {
		return 0, errors.New("no consistency snapshot in the bundle")
	}
	if ev.snap.Error != "" {
		return 0, fmt.Errorf("the snapshot is incomplete: %s", ev.snap.Error)
	}
	if c.Field == "duplicates" && ev.resentErr != nil {
		return 0, ev.resentErr
	}
	counts := ev.snap.Count(ev.resent)
	v, ok := counts.Field(c.Field)
	if !ok {
		return 0, fmt.Errorf("unknown consistency field %q", c.Field)
	}
	if ex := counts.Examples[c.Field]; len(ex) > 0 {
		r.Note = "e.g. " + strings.Join(ex, ", ")
	}
	return float64(v), nil
}

func matchString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	if len(parts) == 0 {
		return "any"
	}
	return strings.Join(parts, " ")
}
