// Package gate runs a command only where an [Authority] says it may:
// the machinery behind "leadergate run -- CMD", and the process-group
// runner that the scheduler shares.
//
// [Run] asks the Authority once. On the leader it replaces leadergate with
// the command (execve), so the command keeps leadergate's pid and its exit
// code, signals, stdin, stdout and stderr are its own. On a follower it
// exits with [Options].FollowerExit and prints nothing. When the Authority
// cannot tell, nothing runs and the error's ExitCode says why (75 try again
// later, 78 fix the configuration).
//
// The decision (leader, follower, cannot tell → run, skip, fail) is a pure
// function of the Authority's answer and the options; the process mechanics
// ([StartGroup], [RunGroup], execve, the overlap lock) are apart from it.
//
// # Guarantees
//
//   - Never through a shell: the command is looked up with exec.LookPath and
//     executed with its argv as given. A command not found exits 127, one
//     that cannot be executed 126, each with one line on stderr.
//   - Fail closed: an error from the Authority means the command does not
//     run (unless the Authority itself accepted an older verdict, which
//     Run then reports on stderr).
//   - Nothing leadergate opens reaches the command, except the overlap lock
//     with --no-overlap, which it inherits on purpose so that the lock is
//     held exactly as long as the command (and whatever it forks that keeps
//     the descriptor) runs. Descriptors leadergate itself inherited pass
//     through, as with any exec.
//   - A follower skip is silent: zero bytes on stdout and stderr. The one
//     exception is a stale verdict accepted under --stale-ok, which adds one
//     warning line on every instance, leader or not, so that a failing
//     election does not go unnoticed.
//   - With MaxRuntime, leadergate stays the parent and the command runs in
//     its own process group. SIGTERM, SIGINT and SIGHUP sent to leadergate
//     are forwarded to the whole group. After MaxRuntime the group gets
//     SIGTERM, then SIGKILL after the grace period if any member is left,
//     and Run returns 124, like timeout(1). The command's own exit code
//     passes through otherwise, 128+N after death by signal N.
//   - With a [Turn] (run --ledger), the Authority only says who claims
//     first; the claim is written only once the command is found and the
//     overlap lock tried (a busy lock records the tick skipped), so a run
//     that never starts is never claimed; a dry run only reads. The command
//     then runs as with MaxRuntime, holding the claim: losing it stops the
//     group as MaxRuntime does, and the end is recorded (124 after
//     MaxRuntime; let go, not failed, after a forwarded SIGTERM or SIGINT).
//   - [RunGroup]: after its context is done, every process that stayed in
//     the group is gone or was sent SIGKILL when it returns.
//
// # Non-guarantees
//
//   - At most once: the Authority decides, and an election can briefly see
//     two leaders around a handover (see package elect). The overlap lock is
//     local to one instance; it does not stop a run on another instance.
//   - A process that leaves the group (setsid, setpgid, a daemonizing fork)
//     escapes the SIGTERM/SIGKILL of MaxRuntime, and keeps the overlap lock
//     if it keeps the descriptor.
//   - Without MaxRuntime nothing bounds the command's runtime: leadergate is
//     gone once the command runs.
//   - With MaxRuntime the command is not in the terminal's foreground
//     process group: an interactive read from a terminal stops it.
//   - The default overlap key is the argv as written, not the resolved
//     program or the working directory: give --lock-name to share or
//     separate locks otherwise.
package gate
