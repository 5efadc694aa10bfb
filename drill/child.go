package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// child is a process of the stack: started by the harness, logging to a
// file in the bundle, and never outliving the harness (it dies with it,
// Ctrl-C and SIGKILL included, through PR_SET_PDEATHSIG and its own process
// group).
type child struct {
	name    string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	waitErr error
}

// startChild runs argv with env added to the harness's environment; its
// stdout and stderr go to logPath.
func startChild(ctx context.Context, name string, argv, env []string, logPath string) (*child, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("%s: empty command", name)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// Not killed with ctx: stop() ends children gracefully (SIGTERM first).
	cmd := exec.CommandContext(context.WithoutCancel(ctx), argv[0], argv[1:]...)
	cmd.Env = append(childEnviron(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	c := &child{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		_ = f.Close()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the child has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then kills the process group.
func (c *child) stop(grace time.Duration) error {
	if c.exited() {
		return nil
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM) // its whole group: a wrapper's children too
	select {
	case <-c.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
	return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", c.name, grace)
}

// waitFile polls path until it holds a line, the child exits, or ctx ends.
func waitFile(ctx context.Context, c *child, path string) (string, error) {
	d := readyTimeout
	deadline := time.Now().Add(d)
	for {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
		switch {
		case c.exited():
			return "", fmt.Errorf("%s exited before it was ready (%w); its log: %s", c.name, c.waitErr, c.log.Name())
		case ctx.Err() != nil:
			return "", ctx.Err()
		case time.Now().After(deadline):
			return "", fmt.Errorf("%s did not write %s within %s; its log: %s", c.name, filepath.Base(path), d, c.log.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopAll stops children in reverse start order.
func stopAll(children []*child, grace time.Duration) error {
	var errs []error
	for i := len(children) - 1; i >= 0; i-- {
		if err := children[i].stop(grace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// childEnviron is the harness's environment without the OpenTelemetry
// variables a user may have set for other programs (a sampler, a disabled
// SDK, another endpoint): the harness wires the children's telemetry itself.
func childEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") {
			out = append(out, kv)
		}
	}
	return out
}
