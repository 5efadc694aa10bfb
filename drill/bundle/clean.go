package bundle

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CleanPolicy says which runs to prune: all but the newest KeepLast of each
// scenario, or those started more than OlderThan ago. Exactly one is set.
type CleanPolicy struct {
	KeepLast  int
	OlderThan time.Duration
	DryRun    bool
}

// Pruned is a run clean removed (or, dry, would remove), or kept and why.
type Pruned struct {
	Run    Run
	Reason string
}

// Clean prunes runs of scenario (every scenario when empty) in lab under
// root. It only ever removes run directories: real directories (never a
// symlink, and no symlink on the way) named like a run id, inside root, whose
// run is not in progress.
func Clean(root, lab, scenario string, p CleanPolicy, now time.Time) (removed, skipped []Pruned, err error) {
	if (p.KeepLast > 0) == (p.OlderThan > 0) {
		return nil, nil, errors.New("give exactly one of --keep-last N (N ≥ 1) or --older-than D (D > 0)")
	}
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil // no evidence yet: nothing to prune
	}
	rootAbs, err := safeRoot(root)
	if err != nil {
		return nil, nil, err
	}
	runs, err := List(rootAbs, lab, scenario)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]int{}
	for _, r := range runs {
		seen[r.Scenario]++
		switch {
		case r.State.InProgress():
			skipped = append(skipped, Pruned{r, fmt.Sprintf("in progress (pid %d)", r.State.PID)})
			continue
		case p.KeepLast > 0 && seen[r.Scenario] <= p.KeepLast:
			continue
		case p.OlderThan > 0 && !r.State.StartedAt.IsZero() && now.Sub(r.State.StartedAt) <= p.OlderThan:
			continue
		}
		if why := unsafeRunDir(rootAbs, r.Bundle); why != "" {
			skipped = append(skipped, Pruned{r, why})
			continue
		}
		reason := fmt.Sprintf("beyond the newest %d", p.KeepLast)
		if p.OlderThan > 0 {
			reason = fmt.Sprintf("started %s ago", now.Sub(r.State.StartedAt).Round(time.Second))
		}
		if !p.DryRun {
			if err := os.RemoveAll(r.Dir()); err != nil {
				return removed, skipped, fmt.Errorf("remove %s: %w", r.Dir(), err)
			}
		}
		removed = append(removed, Pruned{r, reason})
	}
	return removed, skipped, nil
}

// safeRoot resolves root to an absolute path that exists and is a directory.
func safeRoot(root string) (string, error) {
	if strings.TrimSpace(root) == "" {
		return "", errors.New("evidence root is empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("evidence root %s: %w", root, err)
	}
	if real == "/" || real == filepath.Dir(real) {
		return "", fmt.Errorf("evidence root %s is the filesystem root: refusing", root)
	}
	return real, nil
}

// unsafeRunDir says why the run's directory must not be removed, or "".
func unsafeRunDir(rootAbs string, b Bundle) string {
	rel, err := filepath.Rel(rootAbs, b.Dir())
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return "outside the evidence root"
	}
	p := rootAbs
	for _, part := range []string{b.Lab, b.Scenario, b.RunID} {
		p = filepath.Join(p, part)
		st, err := os.Lstat(p)
		if err != nil {
			return err.Error()
		}
		if st.Mode()&os.ModeSymlink != 0 {
			return p + " is a symlink"
		}
		if !st.IsDir() {
			return p + " is not a directory"
		}
	}
	return ""
}
