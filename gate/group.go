package gate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/internal/exitcode"
	"golang.org/x/sys/unix"
)

// exitSignalBase: death by signal N is 128+N, as a shell reports it.
const exitSignalBase = 128

// StartError says why a command could not be started. Its ExitCode is what a
// shell would have said: 127 when it does not exist, 126 when it cannot be
// executed.
type StartError struct {
	Name    string // the command as the user wrote it
	Problem string // what is wrong and how to fix it
	Code    int    // exitcode.NotFound or exitcode.NotExecutable
	Err     error  // the underlying error
}

func (e *StartError) Error() string { return fmt.Sprintf("%q: %s", e.Name, e.Problem) }

// ExitCode is 127 (not found) or 126 (not executable).
func (e *StartError) ExitCode() int { return e.Code }

func (e *StartError) Unwrap() error { return e.Err }

// startError turns an error of exec.LookPath, Cmd.Start or execve into a
// StartError that reads like a shell's.
func startError(name string, err error) *StartError {
	se := &StartError{Name: name, Err: err, Code: exitcode.NotExecutable}
	var lookup *exec.Error
	isLookup := errors.As(err, &lookup)
	switch {
	case errors.Is(err, exec.ErrDot):
		se.Code = exitcode.NotFound
		se.Problem = "found only in a relative PATH entry, which is not searched; give its path, e.g. ./" + name
	case errors.Is(err, exec.ErrNotFound):
		se.Code = exitcode.NotFound
		se.Problem = "command not found in PATH; check the name or give an absolute path"
	case errors.Is(err, fs.ErrNotExist) && isLookup:
		se.Code = exitcode.NotFound
		se.Problem = "no such file; check the path"
	case errors.Is(err, fs.ErrNotExist):
		// The file was there when looked up: execve's ENOENT then means a
		// missing #! interpreter (or the file vanished).
		se.Code = exitcode.NotFound
		se.Problem = "no such file or #! interpreter; check the path and the script's first line"
	case errors.Is(err, syscall.EISDIR) || isDir(name):
		se.Problem = "is a directory; give the path of a program"
	case errors.Is(err, syscall.ENOEXEC):
		se.Problem = "not an executable format; add a #! line or run it through its interpreter"
	case errors.Is(err, fs.ErrPermission):
		se.Problem = "permission denied; make it executable (chmod +x) and check its filesystem is not mounted noexec"
	default:
		var errno syscall.Errno
		if errors.As(err, &errno) {
			se.Problem = fmt.Sprintf("cannot execute: %v; check the file and its permissions", errno)
		} else {
			se.Problem = fmt.Sprintf("cannot execute: %v", err)
		}
	}
	return se
}

func isDir(name string) bool {
	if !strings.Contains(name, "/") {
		return false // looked up in PATH, where directories are skipped
	}
	fi, err := os.Stat(name)
	return err == nil && fi.IsDir()
}

// StatusCode is the exit code a shell reports for a finished process:
// its exit status, or 128+N after death by signal N.
func StatusCode(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitSignalBase + int(ws.Signal())
	}
	return ps.ExitCode()
}

// Group is a command running as the leader of its own process group, so that
// the command and everything it starts (that does not leave the group) can be
// signalled at once.
type Group struct {
	cmd  *exec.Cmd
	pgid int

	mu     sync.Mutex
	reaped bool // the leader was waited for: pgid may be reused
}

// StartGroup starts cmd in a new process group (it sets
// cmd.SysProcAttr.Setpgid). The error, when cmd cannot start, is a
// *StartError.
//
// cmd should come from exec.Command, not exec.CommandContext: the Group owns
// cancellation (Cmd.Cancel would signal the leader only). When cmd's output
// goes through pipes (Stdout or Stderr not an *os.File), set cmd.WaitDelay:
// a process that left the group but keeps the pipe open would otherwise keep
// Wait from returning.
func StartGroup(cmd *exec.Cmd) (*Group, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	if err := cmd.Start(); err != nil {
		name := cmd.Path
		if len(cmd.Args) > 0 {
			name = cmd.Args[0]
		}
		return nil, startError(name, err)
	}
	return &Group{cmd: cmd, pgid: cmd.Process.Pid}, nil
}

// Pgid is the process group id, which is also the leader's pid.
func (g *Group) Pgid() int { return g.pgid }

// Signal sends sig to every process of the group. It returns
// os.ErrProcessDone once the leader has been waited for, and nil when the
// group is already empty.
func (g *Group) Signal(sig syscall.Signal) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reaped {
		return os.ErrProcessDone
	}
	return g.kill(sig)
}

func (g *Group) kill(sig syscall.Signal) error {
	if err := unix.Kill(-g.pgid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal process group %d: %w", g.pgid, err)
	}
	return nil
}

// Wait waits for the leader to exit and returns its exit code as a shell
// reports it. When ctx is done first, every process of the group gets
// SIGTERM, and SIGKILL after grace if any is left; Wait then returns when
// the leader has exited and the group is gone or was SIGKILLed, with
// cancelled set. Processes left in the group by a leader that exited on its
// own are not touched.
func (g *Group) Wait(ctx context.Context, grace time.Duration) (code int, cancelled bool) {
	exited := make(chan struct{})
	go func() {
		// The error adds nothing to ProcessState here: pipe copy errors
		// and ErrWaitDelay do not change how the command ended.
		_ = g.cmd.Wait()
		g.mu.Lock()
		g.reaped = true
		g.mu.Unlock()
		close(exited)
	}()
	select {
	case <-exited:
		return StatusCode(g.cmd.ProcessState), false
	case <-ctx.Done():
	}
	g.stop(grace)
	<-exited
	return StatusCode(g.cmd.ProcessState), true
}

// stop sends SIGTERM to the group, waits up to grace for it to empty, then
// sends SIGKILL.
func (g *Group) stop(grace time.Duration) {
	// Errors other than ESRCH (EPERM after a setuid exec) leave nothing
	// better to do than to go on: the caller still waits for the leader.
	_ = g.kill(syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := 5 * time.Millisecond
	for {
		if !groupAlive(g.pgid) {
			return
		}
		select {
		case <-deadline.C:
			_ = g.kill(syscall.SIGKILL)
			return
		case <-time.After(poll):
		}
		poll = min(2*poll, 100*time.Millisecond)
	}
}

// groupAlive reports whether a process of group pgid is still running.
// kill(-pgid, 0) succeeds as long as a zombie is left, and orphans become
// zombies of init, which may reap them late or never (a container without
// an init): so when kill says yes, /proc decides, ignoring zombies.
func groupAlive(pgid int) bool {
	if errors.Is(unix.Kill(-pgid, 0), unix.ESRCH) {
		return false
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return true // no /proc: trust kill
	}
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// RunGroup starts cmd in a new process group (it sets cmd.SysProcAttr.Setpgid)
// and waits for it. When ctx is done, every process of the group gets SIGTERM,
// and SIGKILL after grace if any is left; RunGroup returns only when the
// leader has exited (and, after a ctx cancel, when the group is gone or was
// SIGKILLed; zombies waiting for init to reap them count as gone). code is the exit code as a shell reports it (128+N after death
// by signal N); err is non-nil only when cmd could not start: a *StartError
// whose ExitCode is 127 (not found) or 126 (not executable), and code is
// that too. See StartGroup for what cmd should look like.
func RunGroup(ctx context.Context, cmd *exec.Cmd, grace time.Duration) (code int, err error) {
	g, err := StartGroup(cmd)
	if err != nil {
		var se *StartError
		errors.As(err, &se)
		return se.Code, err
	}
	code, _ = g.Wait(ctx, grace)
	return code, nil
}
