package process

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary, re-executed, act as a ticking child.
const childEnv = "FIREDRILL_PROCESS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "ticker" {
		ticker()
		return
	}
	os.Exit(m.Run())
}

// ticker prints "N UNIXNANO" every 20ms for at most a minute; a parent that
// dies closes the pipe and the next write ends it (SIGPIPE).
func ticker() {
	for i := range 3000 {
		fmt.Printf("%d %d\n", i, time.Now().UnixNano())
		time.Sleep(20 * time.Millisecond)
	}
}

// tick is one line of the child's output.
type tick struct {
	n  int
	at time.Time // when the child wrote it
}

// child is a ticking child process.
type child struct {
	cmd      *exec.Cmd
	ticks    chan tick
	waitOnce sync.Once
	waitErr  error
}

// startChild starts the test binary as a ticker; it is killed and reaped
// when the test ends.
func startChild(t *testing.T) *child {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=ticker")
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	c := &child{cmd: cmd, ticks: make(chan tick, 64)}
	stop, read := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(read)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var n int
			var ns int64
			if _, err := fmt.Sscanf(sc.Text(), "%d %d", &n, &ns); err != nil {
				continue
			}
			select {
			case c.ticks <- tick{n: n, at: time.Unix(0, ns)}:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		_ = c.wait()
		<-read
	})
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// wait reaps the child once and returns what Wait said.
func (c *child) wait() error {
	c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

// nextTick returns the first tick written after after, failing the test
// when none comes within 5s.
func (c *child) nextTick(t *testing.T, after time.Time) tick {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case tk := <-c.ticks:
			if tk.at.After(after) {
				return tk
			}
		case <-deadline.C:
			t.Fatalf("no output from child %d written after %s within 5s", c.pid(), after.Format(time.RFC3339Nano))
		}
	}
}

// state returns pid's /proc state letter.
func state(t *testing.T, pid int) byte {
	t.Helper()
	st, err := readStat(pid)
	if err != nil {
		t.Fatalf("read /proc/%d/stat: %v", pid, err)
	}
	return st.state
}

// eventually polls cond every 2ms for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 5s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// grandchild starts "sh -c 'sleep 60 & echo $!; wait'" and returns the
// sleep's pid: a process that is not a child of the test.
func grandchild(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 60 & echo $!; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return pid
}

// exitSignal returns the signal that ended a process, from Wait's error.
func exitSignal(err error) (syscall.Signal, bool) {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}
