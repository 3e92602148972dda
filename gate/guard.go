package gate

import (
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/voice"
)

// GuardArg, as the first argument, makes leadergate the guard of a
// supervised command (see [Supervisor]): the CLI hands such a call to
// [GuardMain] before parsing anything.
const GuardArg = "__guard"

// parentDeathSignal is what the kernel sends the guard when the supervisor
// dies (PR_SET_PDEATHSIG). Not SIGTERM: the supervisor's own stop signals
// the whole process group, the guard included, and that one must not kill
// the group at once.
const parentDeathSignal = unix.SIGUSR2

// GuardMain is the guard between the supervisor and its command: the leader
// of the command's process group, started with the parent-death signal set,
// so that when the supervisor dies (SIGKILL, a crash) the guard SIGKILLs
// the whole group. The kernel's parent-death signal reaches one process
// only, and a command started through a shell, or one that starts children
// (php artisan schedule:work does, for each job), would leave those running
// with the direct child's death. argv is the command; GuardMain returns
// only when the command could not start (127 or 126, as a shell says) and
// otherwise ends as the command ended: with its exit code, or killed by the
// same signal.
func GuardMain(argv []string) int {
	deaths := make(chan os.Signal, 1)
	signal.Notify(deaths, parentDeathSignal)
	// The group's SIGTERM, SIGINT and SIGHUP are for the command: the guard
	// waits for it to end. Notify (not Ignore) so that the command does not
	// inherit them ignored.
	others := make(chan os.Signal, 8)
	signal.Notify(others, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for range others {
		}
	}()
	go func() {
		<-deaths
		_ = unix.Kill(0, unix.SIGKILL) // the whole group, this guard included
	}()
	if len(argv) == 0 {
		voice.Say(os.Stderr, voice.Error, "guard: no command")
		return exitcode.Usage
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		se := startError(argv[0], err)
		voice.Say(os.Stderr, voice.Error, se.Error())
		return se.Code
	}
	_ = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		// End as the command did, so the supervisor reads the same status.
		signal.Reset(ws.Signal())
		runtime.LockOSThread()
		_ = unix.Kill(os.Getpid(), ws.Signal())
		select {} // the signal ends this process
	}
	return cmd.ProcessState.ExitCode()
}
