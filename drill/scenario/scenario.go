// Package scenario reads drill scenarios: the YAML files in scenarios/ that
// say what a drill starts, which fault it injects, what load it drives, how
// long each phase lasts and which checks decide its verdict. Scenarios are
// data, so a user adds one without recompiling; this package is where that
// data is read, strictly: an unknown field or a bad value is an error naming
// file:line.
package scenario

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"firedrill/drill/metrics"
	"firedrill/fault"
)

// Scenario is one drill.
type Scenario struct {
	ID          string   `yaml:"id"`
	Priority    string   `yaml:"priority"`
	Description string   `yaml:"description"`
	Stack       Stack    `yaml:"stack"`
	Load        Workload `yaml:"load"`
	Fault       Fault    `yaml:"fault"`
	Phases      Phases   `yaml:"phases"`
	Checks      []Check  `yaml:"checks"`

	// File is where the scenario was read from.
	File string `yaml:"-"`
	// lines maps a field path (checks[1].expect) to its line, for errors.
	lines map[string]int
}

// Stack is the system under drill.
type Stack struct {
	// Projectors is how many projector processes run (default 1).
	Projectors int `yaml:"projectors"`
	// Command starts one projector; empty runs `firedrill projector`. The
	// harness hands it its wiring through the environment
	// (FIREDRILL_DB_URL, FIREDRILL_SEARCH_URL, OTEL_EXPORTER_OTLP_ENDPOINT,
	// FIREDRILL_METRICS_ADDR, FIREDRILL_RUN_ID).
	Command []string `yaml:"command"`
	// Args are extra projector arguments (FIREDRILL_PROJECTOR_ARGS adds more).
	Args []string `yaml:"args"`
}

// Workload is what the writer drives during the load phase: source rows and
// their events together, in one transaction each.
type Workload struct {
	Entities    int      `yaml:"entities"`
	Seed        uint64   `yaml:"seed"`
	UpdateRatio *float64 `yaml:"update_ratio"`
	DeleteRatio *float64 `yaml:"delete_ratio"`
}

// Fault is the scenario's recipe: FAULT_* values in lowercase, plus the
// kind and its options. Every value may be overridden by an env file, the
// environment and flags.
type Fault struct {
	// Kind defaults to the catalog kind of the scenario id.
	Kind      fault.Kind `yaml:"kind"`
	Rate      string     `yaml:"rate"`
	EveryN    string     `yaml:"every_n"`
	DurationS string     `yaml:"duration_s"`
	Match     string     `yaml:"match"`
	Seed      string     `yaml:"seed"`
	// Options of the kind (status, retry_after, latency, ack_lost, jitter, timeout).
	Options map[string]string `yaml:"options"`
	// After lists what the drill does once the window has ended, before the
	// drain: "replay" re-queues the dead letters of the run.
	After []string `yaml:"after"`
}

// Phases are the drill's timings.
type Phases struct {
	// BaselineS is how long the stack runs idle before the baseline scrape.
	BaselineS float64 `yaml:"baseline_s"`
	// HoldS keeps the fault in force after the load was written (the window
	// is FAULT_DURATION_S from injection; hold only waits).
	HoldS float64 `yaml:"hold_s"`
	// DrainDeadlineS bounds the drain after the revert: a drain that misses
	// it FAILs the run with the time it took.
	DrainDeadlineS float64 `yaml:"drain_deadline_s"`
}

// Check is one machine-judged assertion.
type Check struct {
	Name string `yaml:"name"`
	// Kind is metric, log, trace, consistency or fault.
	Kind string `yaml:"kind"`
	// Query is a PromQL expression (metric) evaluated at Window's end.
	Query string `yaml:"query"`
	// Delta is a series selector (metric) whose exact change from the
	// baseline scrape to the end of Window is compared.
	Delta string `yaml:"delta"`
	// Window is when a metric check looks: "run" (baseline → after scrape,
	// default) or "fault" (baseline → the end of the fault window).
	Window string `yaml:"window"`
	// Match selects log lines by field (log) or spans by attribute (trace).
	Match map[string]string `yaml:"match"`
	// Span is the span name (trace).
	Span string `yaml:"span"`
	// Field is the consistency count compared: lost, stale, ghost,
	// dead_lettered, pending, processing, duplicates.
	Field string `yaml:"field"`
	// Expect is a comparison with a number: "> 0", "== 0", ">= 3", "<= 1".
	Expect string `yaml:"expect"`
}

// Kinds of checks.
const (
	CheckMetric      = "metric"
	CheckLog         = "log"
	CheckTrace       = "trace"
	CheckConsistency = "consistency"
	CheckFault       = "fault"
)

// ConsistencyFields are the counts a consistency check compares.
var ConsistencyFields = []string{"lost", "stale", "ghost", "dead_lettered", "pending", "processing", "duplicates"}

var (
	idRe       = regexp.MustCompile(`^[a-z0-9][a-z0-9_]*$`)
	priorities = []string{"P0", "P1", "P2", "P3", "beyond"}
	afterSteps = []string{"replay"}
	optionKeys = []string{"status", "retry_after", "latency", "ack_lost", "jitter", "timeout"}
)

// Defaults fills what a scenario may leave out.
func (s *Scenario) Defaults() {
	if s.Stack.Projectors == 0 {
		s.Stack.Projectors = 1
	}
	if s.Load.Entities == 0 {
		s.Load.Entities = 200
	}
	if s.Load.Seed == 0 {
		s.Load.Seed = 1
	}
	if s.Fault.Kind == "" {
		s.Fault.Kind = fault.ScenarioKinds[s.ID]
	}
	if s.Phases.DrainDeadlineS == 0 {
		s.Phases.DrainDeadlineS = 30
	}
	for i := range s.Checks {
		if s.Checks[i].Kind == CheckMetric && s.Checks[i].Window == "" {
			s.Checks[i].Window = "run"
		}
	}
}

// Validate reports every problem, each naming file:line and what is allowed.
func (s *Scenario) Validate() error {
	var errs []string
	bad := func(path, format string, a ...any) {
		errs = append(errs, s.at(path)+": "+path+": "+fmt.Sprintf(format, a...))
	}
	if !idRe.MatchString(s.ID) {
		bad("id", "%q must be lowercase letters, digits and _ (e.g. es_429_inject)", s.ID)
	}
	if !contains(priorities, s.Priority) {
		bad("priority", "%q must be one of %s", s.Priority, strings.Join(priorities, ", "))
	}
	if strings.TrimSpace(s.Description) == "" {
		bad("description", "is required: say what the drill proves")
	}
	if s.Stack.Projectors < 1 || s.Stack.Projectors > 16 {
		bad("stack.projectors", "%d must be from 1 to 16", s.Stack.Projectors)
	}
	if s.Load.Entities < 1 || s.Load.Entities > 1_000_000 {
		bad("load.entities", "%d must be from 1 to 1000000", s.Load.Entities)
	}
	for _, r := range []struct {
		path string
		v    *float64
	}{{"load.update_ratio", s.Load.UpdateRatio}, {"load.delete_ratio", s.Load.DeleteRatio}} {
		if r.v != nil && (*r.v < 0 || *r.v > 1) {
			bad(r.path, "%v must be a share from 0 to 1", *r.v)
		}
	}
	if s.Fault.Kind != "" && !s.Fault.Kind.Valid() {
		bad("fault.kind", "%q is not a fault kind; kinds: %v", s.Fault.Kind, fault.Kinds)
	}
	if _, err := s.Recipe(); err != nil {
		bad("fault", "%v", err)
	}
	for k := range s.Fault.Options {
		if !contains(optionKeys, k) {
			bad("fault.options."+k, "unknown option; options: %s", strings.Join(optionKeys, ", "))
		}
	}
	for i, a := range s.Fault.After {
		if !contains(afterSteps, a) {
			bad(fmt.Sprintf("fault.after[%d]", i), "%q: allowed: %s", a, strings.Join(afterSteps, ", "))
		}
	}
	for _, p := range []struct {
		path string
		v    float64
	}{{"phases.baseline_s", s.Phases.BaselineS}, {"phases.hold_s", s.Phases.HoldS}, {"phases.drain_deadline_s", s.Phases.DrainDeadlineS}} {
		if p.v < 0 || p.v > 3600 {
			bad(p.path, "%v must be a number of seconds from 0 to 3600", p.v)
		}
	}
	if len(s.Checks) == 0 {
		bad("checks", "a scenario needs at least one check: zero checks never PASS")
	}
	names := map[string]bool{}
	for i, c := range s.Checks {
		s.validateCheck(i, c, names, bad)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(errs, "\n  "))
	}
	return nil
}

func (s *Scenario) validateCheck(i int, c Check, names map[string]bool, bad func(path, format string, a ...any)) {
	p := fmt.Sprintf("checks[%d]", i)
	if strings.TrimSpace(c.Name) == "" {
		bad(p+".name", "is required")
	} else if names[c.Name] {
		bad(p+".name", "%q is used by another check", c.Name)
	}
	names[c.Name] = true
	if _, _, err := ParseExpect(c.Expect); err != nil {
		bad(p+".expect", "%v", err)
	}
	switch c.Kind {
	case CheckMetric:
		if (c.Query == "") == (c.Delta == "") {
			bad(p, "a metric check has exactly one of query (PromQL) or delta (a series selector)")
		}
		if c.Query != "" {
			if err := metrics.CheckQuery(c.Query); err != nil {
				bad(p+".query", "%q is not PromQL: %v", c.Query, err)
			}
		}
		if c.Delta != "" {
			if err := metrics.CheckSelector(c.Delta); err != nil {
				bad(p+".delta", "%q is not a series selector such as outbox_failed_total{reason=\"es_4xx\"}: %v", c.Delta, err)
			}
		}
		if c.Window != "run" && c.Window != "fault" {
			bad(p+".window", "%q: allowed: run, fault", c.Window)
		}
	case CheckLog:
		if len(c.Match) == 0 {
			bad(p+".match", "a log check matches log fields, e.g. {result: done, reason: es_429}")
		}
	case CheckTrace:
		if c.Span == "" {
			bad(p+".span", "a trace check names a span, e.g. projection.process_batch")
		}
	case CheckConsistency:
		if !contains(ConsistencyFields, c.Field) {
			bad(p+".field", "%q: allowed: %s", c.Field, strings.Join(ConsistencyFields, ", "))
		}
	case CheckFault:
	default:
		bad(p+".kind", "%q: allowed: metric, log, trace, consistency, fault", c.Kind)
	}
}

// Recipe is the scenario's layer of the fault recipe.
func (s *Scenario) Recipe() (fault.Recipe, error) {
	return fault.Resolve(s.RecipeLayer())
}

// RecipeLayer is the scenario's FAULT_* values, lowest in precedence.
func (s *Scenario) RecipeLayer() fault.Layer {
	vars := map[string]string{fault.VarScenario: s.ID}
	for k, v := range map[string]string{fault.VarRate: s.Fault.Rate, fault.VarEveryN: s.Fault.EveryN,
		fault.VarDuration: s.Fault.DurationS, fault.VarMatch: s.Fault.Match, fault.VarSeed: s.Fault.Seed} {
		if v != "" {
			vars[k] = v
		}
	}
	return fault.Layer{Source: fault.SourceScenario, Vars: vars}
}

func (s *Scenario) at(path string) string {
	for p := path; p != ""; p = parent(p) {
		if l, ok := s.lines[p]; ok {
			return fmt.Sprintf("%s:%d", s.File, l)
		}
	}
	return s.File
}

func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// ParseExpect reads "OP NUMBER" with OP one of == != > >= < <=.
func ParseExpect(e string) (op string, v float64, err error) {
	f := strings.Fields(e)
	if len(f) != 2 {
		return "", 0, fmt.Errorf("%q: want an operator and a number, e.g. \"> 0\" or \"== 0\"", e)
	}
	if !contains([]string{"==", "!=", ">", ">=", "<", "<="}, f[0]) {
		return "", 0, fmt.Errorf("%q: operator %q is not one of == != > >= < <=", e, f[0])
	}
	v, err = strconv.ParseFloat(f[1], 64)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %q is not a number", e, f[1])
	}
	return f[0], v, nil
}

// Holds reports whether observed satisfies the expectation.
func Holds(expect string, observed float64) (bool, error) {
	op, v, err := ParseExpect(expect)
	if err != nil {
		return false, err
	}
	switch op {
	case "==":
		return observed == v, nil
	case "!=":
		return observed != v, nil
	case ">":
		return observed > v, nil
	case ">=":
		return observed >= v, nil
	case "<":
		return observed < v, nil
	}
	return observed <= v, nil
}

// Duration converts seconds to a duration.
func Duration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
