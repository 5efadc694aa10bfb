package process

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"firedrill/fault"
	"firedrill/fault/faulttest"
)

func TestStopAndResume(t *testing.T) {
	ctx := context.Background()
	c := startChild(t)
	last := c.nextTick(t, time.Time{})
	reg := prometheus.NewRegistry()
	j := &fault.Journal{Dir: t.TempDir()}
	inj, err := New(Config{PID: c.pid(), Kind: fault.KindProcessStop, Metrics: fault.NewMetrics(reg), Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	revert, err := inj.Apply(ctx)
	if err != nil {
		t.Fatalf("Apply: got %v, want nil", err)
	}
	stoppedAt := time.Now()
	if got := state(t, c.pid()); got != 'T' {
		t.Fatalf("state after Apply: got %q, want 'T'", got)
	}
	recs, err := j.List()
	if err != nil || len(recs) != 1 || recs[0].Kind != fault.KindProcessStop || recs[0].Data["pid"] != strconv.Itoa(c.pid()) {
		t.Fatalf("journal while stopped: got %+v, %v; want one process_stop record for pid %d", recs, err, c.pid())
	}
	// Proving the child writes nothing needs a window: ten tick periods.
	quiet := time.NewTimer(200 * time.Millisecond)
	for waiting := true; waiting; {
		select {
		case tk := <-c.ticks:
			if tk.at.After(stoppedAt) {
				t.Fatalf("tick %d written at %s, after the stop at %s", tk.n, tk.at.Format(time.RFC3339Nano), stoppedAt.Format(time.RFC3339Nano))
			}
			last = tk
		case <-quiet.C:
			waiting = false
		}
	}
	if err := revert(ctx); err != nil {
		t.Fatalf("Revert: got %v, want nil", err)
	}
	eventually(t, "child resumed", func() bool { return state(t, c.pid()) != 'T' })
	if next := c.nextTick(t, stoppedAt); next.n <= last.n {
		t.Errorf("after Revert: got tick %d, want one after %d", next.n, last.n)
	}
	if err := revert(ctx); err != nil {
		t.Errorf("second Revert: got %v, want nil", err)
	}
	if recs, err := j.List(); err != nil || len(recs) != 0 {
		t.Errorf("journal after Revert: got %+v, %v; want empty", recs, err)
	}
	if got := faulttest.Injected(t, reg, fault.KindProcessStop); got != 1 {
		t.Errorf("injected process_stop: got %v, want 1", got)
	}
}

func TestKill(t *testing.T) {
	c := startChild(t)
	c.nextTick(t, time.Time{})
	reg := prometheus.NewRegistry()
	inj, err := New(Config{PID: c.pid(), Kind: fault.KindProcessKill, Metrics: fault.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	revert, err := inj.Apply(context.Background())
	if err != nil {
		t.Fatalf("Apply: got %v, want nil", err)
	}
	if got := state(t, c.pid()); got != 'Z' {
		t.Errorf("state after Apply: got %q, want 'Z' (dead, not yet reaped)", got)
	}
	werr := c.wait()
	if sig, ok := exitSignal(werr); !ok || sig != syscall.SIGKILL || !strings.Contains(werr.Error(), "signal: killed") {
		t.Errorf("Wait: got %v, want signal: killed", werr)
	}
	if err := revert(context.Background()); err != nil {
		t.Errorf("Revert of a kill: got %v, want nil (no-op)", err)
	}
	if got := faulttest.Injected(t, reg, fault.KindProcessKill); got != 1 {
		t.Errorf("injected process_kill: got %v, want 1", got)
	}
}

func TestRefusals(t *testing.T) {
	other := grandchild(t)
	cases := []struct {
		name     string
		cfg      Config
		want     error
		contains string
	}{
		{"parent of the test", Config{PID: os.Getppid(), Kind: fault.KindProcessStop}, fault.ErrTargetRefused, "not a child"},
		{"grandchild", Config{PID: other, Kind: fault.KindProcessKill}, fault.ErrTargetRefused, "pid:" + strconv.Itoa(other)},
		{"init", Config{PID: 1, Kind: fault.KindProcessKill}, fault.ErrTargetRefused, "init"},
		{"init even when allowed", Config{PID: 1, Kind: fault.KindProcessStop, AllowNonChild: true}, fault.ErrTargetRefused, "init"},
		{"self", Config{PID: os.Getpid(), Kind: fault.KindProcessStop, AllowNonChild: true}, fault.ErrTargetRefused, "this process"},
		{"no such process", Config{PID: deadPID(t), Kind: fault.KindProcessKill}, fault.ErrInvalid, "no process"},
		{"process group", Config{PID: 0, Kind: fault.KindProcessKill}, fault.ErrInvalid, "PID 0"},
		{"all processes", Config{PID: -1, Kind: fault.KindProcessKill}, fault.ErrInvalid, "PID -1"},
		{"not a process kind", Config{PID: other, Kind: fault.KindDBLock}, fault.ErrInvalid, "allowed: process_kill, process_stop"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Injector{cfg: tc.cfg}).Apply(context.Background())
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("Apply: got %v, want %v mentioning %q", err, tc.want, tc.contains)
			}
		})
	}
	if got := state(t, other); got == 'T' || got == 'Z' {
		t.Errorf("refused target state: got %q, want untouched", got)
	}
}

func TestAllowNonChildStopsAnAllowedProcess(t *testing.T) {
	pid := grandchild(t)
	t.Setenv(fault.AllowTargetsEnv, "db.example,pid:"+strconv.Itoa(pid))
	if !Allowed(pid) {
		t.Fatalf("Allowed(%d): got false, want true", pid)
	}
	revert, err := (&Injector{cfg: Config{PID: pid, Kind: fault.KindProcessStop, AllowNonChild: Allowed(pid)}}).Apply(context.Background())
	if err != nil {
		t.Fatalf("Apply: got %v, want nil", err)
	}
	if got := state(t, pid); got != 'T' {
		t.Errorf("state after Apply: got %q, want 'T'", got)
	}
	if err := revert(context.Background()); err != nil {
		t.Fatalf("Revert: got %v, want nil", err)
	}
	eventually(t, "grandchild resumed", func() bool { return state(t, pid) != 'T' })
}

func TestAllowed(t *testing.T) {
	t.Setenv(fault.AllowTargetsEnv, " db.example , PID:4242,pid:77,pid:x")
	for _, tc := range []struct {
		pid  int
		want bool
	}{{4242, true}, {77, true}, {42, false}, {7, false}, {0, false}} {
		if got := Allowed(tc.pid); got != tc.want {
			t.Errorf("Allowed(%d): got %v, want %v", tc.pid, got, tc.want)
		}
	}
}

func TestRepairResumesAStaleStop(t *testing.T) {
	ctx := context.Background()
	c := startChild(t)
	c.nextTick(t, time.Time{})
	j := &fault.Journal{Dir: t.TempDir()}
	inj, err := New(Config{PID: c.pid(), Kind: fault.KindProcessStop, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inj.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	// The owner "crashes": the record now names a process that is gone.
	recs, err := j.List()
	if err != nil || len(recs) != 1 {
		t.Fatalf("journal: got %+v, %v; want one record", recs, err)
	}
	stale := recs[0]
	stale.OwnerPID, stale.OwnerStart = deadPID(t), ""
	if _, _, err := j.Add(stale); err != nil {
		t.Fatal(err)
	}
	done, err := j.Recover(ctx, map[fault.Kind]fault.Repairer{fault.KindProcessStop: Repair})
	if err != nil || len(done) != 1 {
		t.Fatalf("Recover: got %d repaired, %v; want 1, nil", len(done), err)
	}
	eventually(t, "child resumed", func() bool { return state(t, c.pid()) != 'T' })
	c.nextTick(t, stoppedAt)
	if recs, err := j.List(); err != nil || len(recs) != 0 {
		t.Errorf("journal after Recover: got %+v, %v; want empty", recs, err)
	}
}

func TestRepairRecords(t *testing.T) {
	gone := strconv.Itoa(deadPID(t))
	cases := []struct {
		name string
		rec  fault.Record
		want error
	}{
		{"exited process", fault.Record{Kind: fault.KindProcessStop, Data: map[string]string{"pid": gone}}, nil},
		{"exited process with start", fault.Record{Kind: fault.KindProcessStop, Data: map[string]string{"pid": gone, "start": "1"}}, nil},
		{"no pid", fault.Record{Kind: fault.KindProcessStop}, fault.ErrInvalid},
		{"pid 1", fault.Record{Kind: fault.KindProcessStop, Data: map[string]string{"pid": "1"}}, fault.ErrInvalid},
		{"other kind", fault.Record{Kind: fault.KindProcessKill, Data: map[string]string{"pid": gone}}, fault.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Repair(context.Background(), tc.rec)
			if (tc.want == nil && err != nil) || !errors.Is(err, tc.want) {
				t.Errorf("Repair: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	rest := " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 4242 19 20"
	cases := []struct {
		line  string
		comm  string
		state byte
		ppid  int
		err   bool
	}{
		{"12 (sleep) S 7" + rest, "sleep", 'S', 7, false},
		{"12 (a b) (c)) T 9" + rest, "a b) (c)", 'T', 9, false},
		{"12 sleep S 7", "", 0, 0, true},
		{"12 (x) S", "", 0, 0, true},
	}
	for _, tc := range cases {
		st, err := parseStat(tc.line)
		if tc.err {
			if err == nil {
				t.Errorf("parseStat(%q): got %+v, want an error", tc.line, st)
			}
			continue
		}
		if err != nil || st.comm != tc.comm || st.state != tc.state || st.ppid != tc.ppid || st.start != "4242" {
			t.Errorf("parseStat(%q): got %+v, %v; want comm %q state %q ppid %d start 4242", tc.line, st, err, tc.comm, tc.state, tc.ppid)
		}
	}
}
