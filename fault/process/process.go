// Package process injects process faults by signal: process_kill sends
// SIGKILL (instantaneous, nothing to revert) and process_stop sends SIGSTOP
// for the fault's window and SIGCONT when it is reverted.
//
// The target must be a child of the calling process — the harness signals
// what it started, never a stranger — unless Config.AllowNonChild is set,
// which the CLI does only for a pid listed as "pid:N" in
// FIREDRILL_ALLOW_TARGETS (see Allowed). Pid 1 and the caller itself are
// always refused. A child's pid cannot be reused before its parent reaps
// it, so signalling a child never hits another process; for a non-child the
// start time read from /proc guards against a reused pid when reverting.
//
// A stopped process outlives the one that stopped it, so process_stop is
// journaled before the signal is sent, with Data {"pid", "start"} (the
// start time in clock ticks, from /proc/PID/stat); Repair resumes it.
package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"firedrill/fault"
)

// Config says which process to signal and how.
type Config struct {
	// PID is the process to signal; it must be > 1.
	PID int
	// Kind is fault.KindProcessKill or fault.KindProcessStop.
	Kind fault.Kind
	// AllowNonChild lets the fault target a process that is not a child of
	// the caller. Set it only for a pid the operator allowed (Allowed).
	AllowNonChild bool
	// Metrics counts injections; nil counts nothing.
	Metrics *fault.Metrics
	// Journal, when set, records a process_stop before it is applied.
	Journal *fault.Journal
}

// Validate names the first problem of c.
func (c Config) Validate() error {
	if c.Kind != fault.KindProcessKill && c.Kind != fault.KindProcessStop {
		return fmt.Errorf("%w: Kind %q is not a process fault; allowed: %s, %s", fault.ErrInvalid, c.Kind, fault.KindProcessKill, fault.KindProcessStop)
	}
	if c.PID <= 0 {
		// kill(2) reads 0 and negative pids as process groups: never.
		return fmt.Errorf("%w: PID %d: want the pid of one process (> 1)", fault.ErrInvalid, c.PID)
	}
	return nil
}

// Injector signals one process.
type Injector struct {
	cfg Config
}

var _ fault.Injector = (*Injector)(nil)

// New validates cfg and returns its injector. Nothing is signalled yet.
func New(cfg Config) (*Injector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Injector{cfg: cfg}, nil
}

// stateTimeout bounds the wait for a signalled process to show the new state.
const stateTimeout = 5 * time.Second

// Apply checks the target, sends the signal and returns once /proc shows
// the process stopped (process_stop) or dead (process_kill).
func (in *Injector) Apply(ctx context.Context) (fault.Revert, error) {
	if err := in.cfg.Validate(); err != nil {
		return nil, err
	}
	pid, kind := in.cfg.PID, in.cfg.Kind
	st, err := check(pid, in.cfg.AllowNonChild)
	if err != nil {
		return nil, err
	}
	if kind == fault.KindProcessKill {
		return in.kill(ctx, st)
	}
	remove := func() error { return nil }
	if j := in.cfg.Journal; j != nil {
		_, rm, err := j.Add(fault.Record{
			Kind:   kind,
			Target: fmt.Sprintf("pid %d (%s)", pid, st.comm),
			Data:   map[string]string{"pid": strconv.Itoa(pid), "start": st.start},
		})
		if err != nil {
			return nil, fmt.Errorf("%s pid %d: %w", kind, pid, err)
		}
		remove = rm
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return nil, errors.Join(fmt.Errorf("%s pid %d: send SIGSTOP: %w", kind, pid, err), remove())
	}
	in.cfg.Metrics.Inc(kind, 1)
	r := &resumer{pid: pid, start: st.start, remove: remove}
	stopped := func(s byte) bool { return s == 'T' || s == 't' }
	if err := waitState(ctx, pid, st.start, stopped); err != nil {
		return nil, errors.Join(fmt.Errorf("%s pid %d: %w", kind, pid, err), r.revert(context.WithoutCancel(ctx)))
	}
	return r.revert, nil
}

func (in *Injector) kill(ctx context.Context, st procStat) (fault.Revert, error) {
	pid := in.cfg.PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("%s pid %d: send SIGKILL: %w", in.cfg.Kind, pid, err)
	}
	in.cfg.Metrics.Inc(in.cfg.Kind, 1)
	// Dead is a zombie until its parent reaps it, or gone.
	dead := func(s byte) bool { return s == 'Z' || s == 'X' || s == 'x' }
	if err := waitState(ctx, pid, st.start, dead); err != nil && !errors.Is(err, errGone) {
		return nil, fmt.Errorf("%s pid %d: %w", in.cfg.Kind, pid, err)
	}
	return func(context.Context) error { return nil }, nil
}

// resumer reverts one process_stop.
type resumer struct {
	pid    int
	start  string
	remove func() error
	mu     sync.Mutex
	done   bool
}

func (r *resumer) revert(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	if err := resume(r.pid, r.start); err != nil {
		return fmt.Errorf("%s revert pid %d: %w", fault.KindProcessStop, r.pid, err)
	}
	r.done = true
	return r.remove()
}

// resume sends SIGCONT to pid unless it has exited (or its pid now names
// another process, told by start).
func resume(pid int, start string) error {
	if start != "" {
		st, err := readStat(pid)
		if errors.Is(err, os.ErrNotExist) || (err == nil && st.start != start) {
			return nil
		}
	}
	err := syscall.Kill(pid, syscall.SIGCONT)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("send SIGCONT: %w", err)
	}
	return nil
}

// errGone marks a process that exited (or whose pid was reused) while
// waitState watched it.
var errGone = errors.New("process exited")

// waitState polls /proc until pid's state satisfies ok, for at most
// stateTimeout or until ctx ends.
func waitState(ctx context.Context, pid int, start string, ok func(byte) bool) error {
	ctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := readStat(pid)
		switch {
		case errors.Is(err, os.ErrNotExist) || (err == nil && st.start != start):
			return errGone
		case err != nil:
			return err
		case ok(st.state):
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("state still %q: %w", st.state, ctx.Err())
		case <-tick.C:
		}
	}
}
