package elect

import (
	"errors"

	"github.com/leadergate/leadergate/internal/exitcode"
)

// Election errors carry exitcode.TempFail (the election could not be made
// now: IMDS or EC2 unreachable, throttled, timed out) or exitcode.Config
// (no group tag on this instance, AccessDenied, unusable state dir or
// marker: retrying will not help until an operator acts).

// Error is an election failure that knows its exit code. Its message names
// the problem and, where one is known, the fix.
type Error struct {
	Code int
	Err  error
	Fix  string
}

func (e *Error) Error() string {
	if e.Fix == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + "; " + e.Fix
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode implements the CLI's exit-code convention.
func (e *Error) ExitCode() int { return e.Code }

// ErrNoIdentity is in the chain of an error that IMDS did not say which
// instance this is: off EC2, or IMDS unreachable. Each command adds the way
// it offers around it (--assume, --region, --group).
var ErrNoIdentity = errors.New("read the instance identity from IMDS")

func tempFail(err error, fix string) error {
	return &Error{Code: exitcode.TempFail, Err: err, Fix: fix}
}
func configErr(err error, fix string) error { return &Error{Code: exitcode.Config, Err: err, Fix: fix} }

// CannotTell is the exit code of an election or ledger error: the one it
// carries, or exitcode.TempFail for one that says nothing else ("cannot
// tell whether to run": fail closed, try again later).
func CannotTell(err error) int {
	if code := exitcode.Of(err); code != exitcode.Failure {
		return code
	}
	return exitcode.TempFail
}
