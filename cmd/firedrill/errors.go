package main

import (
	"errors"
	"fmt"
	"strings"

	"firedrill/outbox"
)

// Exit codes of DESIGN.md.
const (
	exitOK           = 0
	exitFail         = 1
	exitInconclusive = 2
	exitUsage        = 3
	exitFlake        = 4
)

// exitError carries an explicit exit code.
type exitError struct {
	code int
	err  error
	// silent errors were already shown to the user (a verdict).
	silent bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or setup error (exit 3).
func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// setupErr wraps err as a setup error (exit 3) with context.
func setupErr(what string, err error) error {
	return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", what, err)}
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, outbox.ErrInvalid), errors.Is(err, outbox.ErrUnavailable), errors.Is(err, outbox.ErrNoSchema):
		return exitUsage
	case isCobraUsage(err):
		return exitUsage
	}
	return exitFail
}

// isCobraUsage recognises cobra's own argument errors, which it returns
// as plain errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires ",
		"invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// isSilent reports errors already shown to the user.
func isSilent(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.silent
}

// worse reports whether exit code a outranks b in the order
// 3 > 4 > 1 > 2 > 0 (DESIGN.md: drill --all and gate --all exit with the worst).
func worse(a, b int) bool {
	rank := map[int]int{exitOK: 0, exitInconclusive: 1, exitFail: 2, exitFlake: 3, exitUsage: 4}
	return rank[a] > rank[b]
}
