// Package exitcode is leadergate's one table of exit codes, shared by every
// command (README.md, "Exit codes"), and the one function that reads them
// off an error.
//
// Codes travel on errors as an ExitCode() int method, so a package that
// fails (elect, ledger, gate, schedule) says why in its own words and the
// CLI only asks [Of]. A command's own exit status passes through unchanged;
// death by signal N is 128+N, as a shell says.
package exitcode

import "errors"

// The table (sysexits where one fits).
const (
	OK       = 0
	Failure  = 1  // an error that names no code; also a follower's `check`
	Usage    = 64 // EX_USAGE: the command line makes no sense (kong's own default is 80)
	Crontab  = 65 // EX_DATAERR: the crontab has errors
	TempFail = 75 // EX_TEMPFAIL: cannot tell now (IMDS, EC2 or the ledger unreachable, throttled, timed out): try again later
	Config   = 78 // EX_CONFIG: retrying will not help until an operator acts (no group tag, AccessDenied, no table)

	MaxRuntime    = 124 // the command ran longer than --max-runtime, as timeout(1)
	NotExecutable = 126 // found, but execve refused it, as a shell says
	NotFound      = 127 // no such command, as a shell says
)

// Of returns the exit code err calls for: 0 for nil, the ExitCode() of the
// first error in its chain that has one, else Failure.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var c interface{ ExitCode() int }
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	return Failure
}

// Is reports whether err calls for code.
func Is(err error, code int) bool { return err != nil && Of(err) == code }
