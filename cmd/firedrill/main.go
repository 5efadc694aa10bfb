// Command firedrill runs failure drills against an outbox → search
// projection, and ships the projector it drills.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second Ctrl-C kills at once: stop catching signals once the first arrived.
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	code := exitCode(err)
	if err != nil && !isSilent(err) {
		fmt.Fprintln(os.Stderr, "firedrill:", err)
	}
	os.Exit(code)
}

// run executes one command line; main maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
