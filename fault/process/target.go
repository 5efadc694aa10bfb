package process

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"firedrill/fault"
)

// Allowed reports whether FIREDRILL_ALLOW_TARGETS lists pid as "pid:N",
// which is what lets the CLI set Config.AllowNonChild.
func Allowed(pid int) bool {
	return slices.Contains(fault.AllowedTargets(), "pid:"+strconv.Itoa(pid))
}

// CheckTarget refuses (fault.ErrTargetRefused) pid 1 and below, the
// calling process, and — unless allowNonChild — any process that is not a
// child of the caller. A pid with no process is fault.ErrInvalid.
func CheckTarget(pid int, allowNonChild bool) error {
	_, err := check(pid, allowNonChild)
	return err
}

func check(pid int, allowNonChild bool) (procStat, error) {
	self := os.Getpid()
	switch {
	case pid <= 1:
		return procStat{}, fmt.Errorf("%w: pid %d: a process fault never signals init or a process group", fault.ErrTargetRefused, pid)
	case pid == self:
		return procStat{}, fmt.Errorf("%w: pid %d is this process", fault.ErrTargetRefused, pid)
	}
	st, err := readStat(pid)
	if errors.Is(err, os.ErrNotExist) {
		return procStat{}, fmt.Errorf("%w: no process with pid %d", fault.ErrInvalid, pid)
	}
	if err != nil {
		return procStat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	if st.ppid != self && !allowNonChild {
		return procStat{}, fmt.Errorf("%w: pid %d (%s) is not a child of this process (its parent is %d); a process fault signals what the harness started, or a pid listed in %s (e.g. %s=pid:%d)",
			fault.ErrTargetRefused, pid, st.comm, st.ppid, fault.AllowTargetsEnv, fault.AllowTargetsEnv, pid)
	}
	return st, nil
}

// procStat is what /proc/PID/stat says about a process.
type procStat struct {
	comm  string
	state byte   // R, S, D, T, t, Z, X, ...
	ppid  int    // parent pid
	start string // start time in clock ticks since boot
}

// readStat reads /proc/PID/stat. A missing process wraps os.ErrNotExist.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(string(b))
}

// parseStat parses "PID (COMM) STATE PPID ... STARTTIME ...". COMM may hold
// spaces and parentheses, so the fields start after the last ')'.
func parseStat(s string) (procStat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("malformed /proc stat line %q", s)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed /proc stat line %q", s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat parent pid %q: %w", f[1], err)
	}
	return procStat{comm: s[open+1 : end], state: f[0][0], ppid: ppid, start: f[19]}, nil
}
