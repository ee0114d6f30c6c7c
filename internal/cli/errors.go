// Package cli holds what every subcommand shares about talking to the person
// who started it: how bad input is reported and which exit codes mean what.
package cli

import (
	"errors"
	"fmt"
)

// Exit codes shared by every subcommand. 2 always means "bad input", so that
// scripts can tell a typo from a sick cluster.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitUnreachable = 3
)

// UsageError is bad input from the user: a flag, a config file or an argument.
// main prints it as one line and exits with ExitUsage.
type UsageError struct {
	msg string
}

func (e *UsageError) Error() string { return e.msg }

// Usagef builds a UsageError. The message should name what is wrong, e.g.
// "--etcd.endpoints: ...".
func Usagef(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// IsUsage reports whether err is (or wraps) a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// ExitError carries a specific exit code for a failure that is not bad input,
// e.g. `check` exiting 1 (degraded) or 3 (unreachable).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by a subcommand to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if IsUsage(err) {
		return ExitUsage
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailure
}
