package elect

import "errors"

// Exit codes (sysexits) carried by election errors.
const (
	// ExitTempFail means the election could not be made now (IMDS or EC2
	// unreachable, throttled, timed out): try again later.
	ExitTempFail = 75
	// ExitConfig means retrying will not help until an operator acts (no
	// group tag on this instance, AccessDenied, unusable state dir or marker).
	ExitConfig = 78
)

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

func tempFail(err error, fix string) error  { return &Error{Code: ExitTempFail, Err: err, Fix: fix} }
func configErr(err error, fix string) error { return &Error{Code: ExitConfig, Err: err, Fix: fix} }

// ExitCodeOf returns the exit code an error carries, or ExitTempFail: an
// election error that says nothing else means "cannot tell".
func ExitCodeOf(err error) int {
	var c interface{ ExitCode() int }
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	return ExitTempFail
}
