package fault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Journal records durable faults — those that outlive the process that
// applied them: a write block, a held table lock, a stopped process, a
// toxic — before they are applied, so that the next start finds the ones a
// crashed process left and reverts them. One JSON file per fault in Dir.
type Journal struct {
	Dir string
}

// Record is one journaled fault.
type Record struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Target is a human description of what is faulted (secrets redacted).
	Target string `json:"target"`
	// OwnerPID and OwnerStart identify the process holding the fault; a
	// record whose owner is gone is stale.
	OwnerPID   int       `json:"owner_pid"`
	OwnerStart string    `json:"owner_start,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Data is what a repair needs (never a secret: credentials come from the
	// environment at repair time).
	Data map[string]string `json:"data,omitempty"`
}

// Repairer reverts the fault of a stale record.
type Repairer func(ctx context.Context, r Record) error

// Add journals r (ID, owner and start time filled in) before its fault is
// applied, and returns a function that removes the record once the fault is
// reverted.
func (j Journal) Add(r Record) (Record, func() error, error) {
	if err := os.MkdirAll(j.Dir, 0o755); err != nil {
		return r, nil, fmt.Errorf("fault journal: %w", err)
	}
	if r.ID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		r.ID = string(r.Kind) + "-" + hex.EncodeToString(b[:])
	}
	if r.OwnerPID == 0 {
		r.OwnerPID = os.Getpid()
	}
	if r.OwnerStart == "" {
		r.OwnerStart = processStart(r.OwnerPID)
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now().UTC()
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return r, nil, err
	}
	p := filepath.Join(j.Dir, r.ID+".json")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return r, nil, fmt.Errorf("fault journal: %w", err)
	}
	if err := syncAndRename(tmp, p); err != nil {
		return r, nil, fmt.Errorf("fault journal: %w", err)
	}
	return r, func() error {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("fault journal: %w", err)
		}
		return nil
	}, nil
}

func syncAndRename(tmp, p string) error {
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// List returns the journaled faults, oldest first. A record that does not
// parse is reported as an error naming its file, never skipped silently.
func (j Journal) List() ([]Record, error) {
	ents, err := os.ReadDir(j.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fault journal: %w", err)
	}
	var out []Record
	var errs []error
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(j.Dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			errs = append(errs, fmt.Errorf("fault journal %s: %w", p, err))
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].StartedAt.Before(out[b].StartedAt) })
	return out, errors.Join(errs...)
}

// Remove deletes the record with id.
func (j Journal) Remove(id string) error {
	err := os.Remove(filepath.Join(j.Dir, id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Alive reports whether r's owner process still runs (same pid, same start
// time, so a reused pid does not count).
func (r Record) Alive() bool {
	if r.OwnerPID <= 0 {
		return false
	}
	if err := syscall.Kill(r.OwnerPID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	return r.OwnerStart == "" || processStart(r.OwnerPID) == r.OwnerStart
}

// Recover reverts every record whose owner is gone, with the repairer of
// its kind, and removes it once repaired. It returns the records it
// repaired; a record it could not repair stays journaled and its error is
// returned (the next start tries again).
func (j Journal) Recover(ctx context.Context, repair map[Kind]Repairer) ([]Record, error) {
	recs, err := j.List()
	var done []Record
	errs := []error{err}
	for _, r := range recs {
		if r.Alive() {
			continue
		}
		fix, ok := repair[r.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("fault %s (%s on %s): no repair for this kind here", r.ID, r.Kind, r.Target))
			continue
		}
		if err := fix(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("repair fault %s (%s on %s): %w", r.ID, r.Kind, r.Target, err))
			continue
		}
		if err := j.Remove(r.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, r)
	}
	return done, errors.Join(errs...)
}

// processStart is the start time of pid in clock ticks since boot (Linux
// /proc/PID/stat field 22), or "" when it cannot be read.
func processStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}
