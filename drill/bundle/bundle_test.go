package bundle_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firedrill/drill/bundle"
)

func mkRun(t *testing.T, root string, started time.Time, state string, pid int) bundle.Bundle {
	t.Helper()
	const lab, sc = "default", "s"
	id, err := bundle.NewRunID("t", sc, "embedded", started)
	if err != nil {
		t.Fatal(err)
	}
	b := bundle.Bundle{Root: root, Lab: lab, Scenario: sc, RunID: id}
	if err := bundle.Create(b, started); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteState(bundle.State{State: state, PID: pid, RunID: id, Scenario: sc, LabID: lab, StartedAt: started}); err != nil {
		t.Fatal(err)
	}
	return b
}

func deadPID(t *testing.T) int {
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

func TestRunIDAndNames(t *testing.T) {
	now := time.Date(2026, 12, 4, 5, 6, 7, 0, time.UTC)
	id, err := bundle.NewRunID("ci", "es_429_inject", "embedded", now)
	if err != nil || !strings.HasPrefix(id, "ci-es_429_inject-embedded-20261204T050607-") || len(id) != len("ci-es_429_inject-embedded-20261204T050607-")+4 || !bundle.IsRunID(id) {
		t.Fatalf("run id %q, %v", id, err)
	}
	for _, bad := range []string{"../x", "a/b", "Upper", "", "x..y"} {
		if _, err := bundle.NewRunID(bad, "s", "e", now); err == nil {
			t.Errorf("label %q accepted", bad)
		}
	}
}

func TestFindNewestCompleteWithinSince(t *testing.T) {
	root := t.TempDir()
	now := time.Now().UTC()
	old := mkRun(t, root, now.Add(-2*time.Hour), bundle.StateComplete, 1)
	mid := mkRun(t, root, now.Add(-5*time.Minute), bundle.StateComplete, 1)
	mkRun(t, root, now.Add(-time.Minute), bundle.StateIncomplete, 1)
	r, err := bundle.Find(root, "default", "s", "", 10*time.Minute, now)
	if err != nil || r.RunID != mid.RunID {
		t.Fatalf("newest complete within 10m: %v, %v; want %s", r.RunID, err, mid.RunID)
	}
	if _, err := bundle.Find(root, "default", "s", "", time.Minute, now); !errors.Is(err, bundle.ErrNoRun) {
		t.Errorf("within 1m: %v, want ErrNoRun", err)
	}
	if r, err := bundle.Find(root, "default", "s", old.RunID, 0, now); err != nil || r.RunID != old.RunID {
		t.Errorf("by run id: %v, %v", r.RunID, err)
	}
}

func TestCleanKeepsRunningAndStaysInsideTheRoot(t *testing.T) {
	root := t.TempDir()
	now := time.Now().UTC()
	var runs []bundle.Bundle
	for i := range 4 {
		runs = append(runs, mkRun(t, root, now.Add(-time.Duration(10-i)*time.Hour), bundle.StateComplete, deadPID(t)))
	}
	// The oldest is still running (this process): never removed.
	if err := runs[0].WriteState(bundle.State{State: bundle.StateRunning, PID: os.Getpid(), StartedAt: now.Add(-10 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Outside the root, reachable only through symlinks: never touched.
	outside := t.TempDir()
	victim := filepath.Join(outside, "t-s-embedded-20200101T000000-abcd")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, bundle.StateFile), []byte(`{"state":"complete","started_at":"2020-01-01T00:00:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(root, "default", "s", "t-s-embedded-20200101T000000-abcd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "default", "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(outside, "t-linked-embedded-20200101T000000-abcd"), 0o755); err != nil {
		t.Fatal(err)
	}

	removed, skipped, err := bundle.Clean(root, "default", "", bundle.CleanPolicy{KeepLast: 1, DryRun: true}, now)
	if err != nil || len(removed) != 2 {
		t.Fatalf("dry run: removed %d (%v), want 2 (keep the newest, skip the running one)", len(removed), err)
	}
	for _, b := range runs {
		if _, err := os.Stat(b.Dir()); err != nil {
			t.Fatalf("dry run removed %s", b.RunID)
		}
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0].Reason, "in progress") {
		t.Errorf("skipped %+v, want the running run", skipped)
	}
	removed, _, err = bundle.Clean(root, "default", "s", bundle.CleanPolicy{KeepLast: 1}, now)
	if err != nil || len(removed) != 2 {
		t.Fatalf("clean: removed %d, %v", len(removed), err)
	}
	for i, want := range []bool{true, false, false, true} {
		_, err := os.Stat(runs[i].Dir())
		if (err == nil) != want {
			t.Errorf("run %d exists=%v, want %v", i, err == nil, want)
		}
	}
	for _, p := range []string{victim, filepath.Join(outside, "t-linked-embedded-20200101T000000-abcd")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("clean touched %s outside the root: %v", p, err)
		}
	}
	if _, _, err := bundle.Clean(root, "default", "s", bundle.CleanPolicy{}, now); err == nil {
		t.Error("no policy accepted")
	}
	if _, _, err := bundle.Clean(root, "../x", "s", bundle.CleanPolicy{KeepLast: 1}, now); err == nil {
		t.Error("a lab with .. accepted")
	}
	removed, _, err = bundle.Clean(root, "default", "s", bundle.CleanPolicy{OlderThan: time.Hour}, now)
	if err != nil || len(removed) != 1 || removed[0].Run.RunID != runs[3].RunID {
		t.Errorf("older than 1h: %+v, %v; want only the 7h-old complete run", removed, err)
	}
}

func TestMarkAbandoned(t *testing.T) {
	root := t.TempDir()
	now := time.Now()
	live := mkRun(t, root, now, bundle.StateRunning, os.Getpid())
	dead := mkRun(t, root, now.Add(-time.Minute), bundle.StateRunning, deadPID(t))
	done := mkRun(t, root, now.Add(-2*time.Minute), bundle.StateComplete, deadPID(t))
	marked, err := bundle.MarkAbandoned(root, "default", "s", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(marked) != 1 || marked[0].RunID != dead.RunID {
		t.Fatalf("got %d marked runs %+v, want only the dead one", len(marked), marked)
	}
	for _, c := range []struct {
		b    bundle.Bundle
		want string
	}{{live, bundle.StateRunning}, {dead, bundle.StateIncomplete}, {done, bundle.StateComplete}} {
		st, err := c.b.ReadState()
		if err != nil || st.State != c.want {
			t.Errorf("%s: got state %q (%v), want %s", c.b.RunID, st.State, err, c.want)
		}
	}
}
