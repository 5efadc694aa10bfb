// Package bundle is the on-disk evidence of drill runs (DESIGN.md
// "Evidence bundle"): <root>/<lab_id>/<scenario>/<run_id>/ with _state.json,
// _recipe.json, _metrics/, _logs/, _traces/, _result.json, _exports/. It
// names runs, records their state, finds them again, and prunes old ones
// without ever touching anything outside the root or a run in progress.
package bundle

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// DefaultRoot is the evidence root when neither --root nor FIREDRILL_ROOT is set.
const DefaultRoot = "docs/labs/_snapshot/auto"

// DefaultLab is the lab id when --lab is not given.
const DefaultLab = "default"

// Files and directories of a bundle.
const (
	StateFile  = "_state.json"
	RecipeFile = "_recipe.json"
	ResultFile = "_result.json"
	MetricsDir = "_metrics"
	LogsDir    = "_logs"
	TracesDir  = "_traces"
	ExportsDir = "_exports"
	NotesFile  = "_notes.md"
	ReportFile = "report.html"
)

// States of a run.
const (
	StateRunning    = "running"
	StateComplete   = "complete"
	StateIncomplete = "incomplete"
)

var (
	nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	// runIDRe matches <label>-<scenario>-<env>-<yyyymmddThhmmss>-<4 hex>.
	runIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*-\d{8}T\d{6}-[0-9a-f]{4}$`)
)

// CheckName refuses a lab, scenario, label or env name that could leave its
// directory or is not a plain lowercase word.
func CheckName(what, v string) error {
	if !nameRe.MatchString(v) || strings.Contains(v, "..") {
		return fmt.Errorf("%s %q: use lowercase letters, digits, '_', '-' and '.' (no '..', no '/')", what, v)
	}
	return nil
}

// NewRunID returns <label>-<scenario>-<env>-<UTC yyyymmddThhmmss>-<4 random hex>.
func NewRunID(label, scenario, env string, now time.Time) (string, error) {
	for _, n := range []struct{ what, v string }{{"label", label}, {"scenario", scenario}, {"env", env}} {
		if err := CheckName(n.what, n.v); err != nil {
			return "", err
		}
	}
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%s-%s-%s-%s", label, scenario, env, now.UTC().Format("20060102T150405"), hex.EncodeToString(b[:])), nil
}

// IsRunID reports whether s has the shape of a run id.
func IsRunID(s string) bool { return runIDRe.MatchString(s) }

// State is _state.json.
type State struct {
	State      string    `json:"state"`
	PID        int       `json:"pid"`
	RunID      string    `json:"run_id"`
	Scenario   string    `json:"scenario"`
	LabID      string    `json:"lab_id"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Why says why a run is incomplete.
	Why string `json:"why,omitempty"`
}

// Bundle is one run's directory.
type Bundle struct {
	Root, Lab, Scenario, RunID string
}

// Dir is the run's directory.
func (b Bundle) Dir() string { return filepath.Join(b.Root, b.Lab, b.Scenario, b.RunID) }

// Path joins elem to the run's directory.
func (b Bundle) Path(elem ...string) string {
	return filepath.Join(append([]string{b.Dir()}, elem...)...)
}

// Create makes the run's directory (it must not exist) and records it as
// running by this process.
func Create(b Bundle, now time.Time) error {
	for _, n := range []struct{ what, v string }{{"lab", b.Lab}, {"scenario", b.Scenario}} {
		if err := CheckName(n.what, n.v); err != nil {
			return err
		}
	}
	if !IsRunID(b.RunID) {
		return fmt.Errorf("run id %q does not have the shape label-scenario-env-yyyymmddThhmmss-hex", b.RunID)
	}
	if err := os.MkdirAll(filepath.Dir(b.Dir()), 0o755); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := os.Mkdir(b.Dir(), 0o755); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	for _, d := range []string{MetricsDir, LogsDir, TracesDir} {
		if err := os.Mkdir(b.Path(d), 0o755); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	return b.WriteState(State{State: StateRunning, PID: os.Getpid(), RunID: b.RunID, Scenario: b.Scenario, LabID: b.Lab, StartedAt: now.UTC()})
}

// WriteState replaces _state.json atomically.
func (b Bundle) WriteState(s State) error { return WriteJSON(b.Path(StateFile), s) }

// ReadState reads _state.json.
func (b Bundle) ReadState() (State, error) {
	var s State
	err := ReadJSON(b.Path(StateFile), &s)
	return s, err
}

// Finish records the run's end: complete, or incomplete with why.
func (b Bundle) Finish(state, why string, now time.Time) error {
	s, err := b.ReadState()
	if err != nil {
		return err
	}
	s.State, s.Why, s.FinishedAt = state, why, now.UTC()
	return b.WriteState(s)
}

// InProgress reports whether the run's recorded process still runs it.
func (s State) InProgress() bool {
	if s.State != StateRunning || s.PID <= 0 {
		return false
	}
	err := syscall.Kill(s.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// WriteJSON writes v as indented JSON to path via a temporary file.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadJSON decodes path into v.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
