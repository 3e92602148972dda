package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/leadergate/leadergate/internal/exitcode"
)

// Exit codes travel on errors as an ExitCode() int method (see the table in
// README.md, package exitcode); exitcode.Of is the one reader of them, and exitCode below the
// one place that turns an error into leadergate's exit.

// exitCode says err on stderr in the CLI voice, unless it is an exitStatus
// (a code with nothing to say), and returns the code it carries.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if !errors.As(err, new(exitStatus)) {
		say(stderr, levelError, err.Error())
	}
	return exitcode.Of(err)
}

// exitStatus ends a command with a code and nothing to say: a follower's
// check, or the exit status of the command run passes through.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitStatus) ExitCode() int { return int(e) }

// usageError is a command line that makes no sense: exit 64.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }
func (usageError) ExitCode() int   { return exitcode.Usage }
