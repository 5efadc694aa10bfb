package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// ErrNoRun is returned when no run matches.
var ErrNoRun = errors.New("no matching run")

// Run is a run found on disk.
type Run struct {
	Bundle
	State State
}

// List returns the runs of scenario in lab (every scenario when empty),
// newest first. Entries that are not run directories (symlinks, stray
// files, names without the run-id shape) are skipped.
func List(root, lab, scenario string) ([]Run, error) {
	if err := CheckName("lab", lab); err != nil {
		return nil, err
	}
	scenarios := []string{scenario}
	if scenario == "" {
		ents, err := os.ReadDir(filepath.Join(root, lab))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		scenarios = nil
		for _, e := range ents {
			if e.IsDir() && CheckName("scenario", e.Name()) == nil {
				scenarios = append(scenarios, e.Name())
			}
		}
	} else if err := CheckName("scenario", scenario); err != nil {
		return nil, err
	}
	var runs []Run
	for _, sc := range scenarios {
		ents, err := os.ReadDir(filepath.Join(root, lab, sc))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			// DirEntry.IsDir is false for a symlink: a link is never a run.
			if !e.IsDir() || !IsRunID(e.Name()) {
				continue
			}
			b := Bundle{Root: root, Lab: lab, Scenario: sc, RunID: e.Name()}
			st, err := b.ReadState()
			if err != nil {
				st = State{State: StateIncomplete, Why: "no readable " + StateFile}
			}
			runs = append(runs, Run{Bundle: b, State: st})
		}
	}
	sort.Slice(runs, func(i, j int) bool {
		if !runs[i].State.StartedAt.Equal(runs[j].State.StartedAt) {
			return runs[i].State.StartedAt.After(runs[j].State.StartedAt)
		}
		return runs[i].RunID > runs[j].RunID
	})
	return runs, nil
}

// Find returns the run runID of scenario, or, without a run id, the newest
// complete run started within since (0: any age).
func Find(root, lab, scenario, runID string, since time.Duration, now time.Time) (Run, error) {
	runs, err := List(root, lab, scenario)
	if err != nil {
		return Run{}, err
	}
	for _, r := range runs {
		switch {
		case runID != "":
			if r.RunID == runID {
				return r, nil
			}
		case r.State.State == StateComplete && (since <= 0 || now.Sub(r.State.StartedAt) <= since):
			return r, nil
		}
	}
	if runID != "" {
		return Run{}, fmt.Errorf("%w: run %s of %s in lab %s under %s", ErrNoRun, runID, scenario, lab, root)
	}
	return Run{}, fmt.Errorf("%w: no complete run of %s in lab %s under %s within %s", ErrNoRun, scenario, lab, root, since)
}

// MarkAbandoned records as incomplete every run of scenario (every
// scenario when empty) whose _state.json says running although its process
// is gone: a harness killed with SIGKILL could not say so itself. It
// returns the runs it marked.
func MarkAbandoned(root, lab, scenario string, now time.Time) ([]Run, error) {
	runs, err := List(root, lab, scenario)
	if err != nil {
		return nil, err
	}
	var marked []Run
	for _, r := range runs {
		if r.State.State != StateRunning || r.State.InProgress() {
			continue
		}
		why := fmt.Sprintf("the harness (pid %d) died before the run finished", r.State.PID)
		if err := r.Finish(StateIncomplete, why, now); err != nil {
			return marked, err
		}
		r.State.State, r.State.Why = StateIncomplete, why
		marked = append(marked, r)
	}
	return marked, nil
}
