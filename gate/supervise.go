package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// Restart backoff of a Supervisor, when its fields are zero.
const (
	DefaultBackoffMin = time.Second
	DefaultBackoffMax = time.Minute
	// DefaultStable is how long a run must last for the backoff to start
	// again from its minimum: a command that crashes after a minute is
	// not in a loop.
	DefaultStable = time.Minute
	// CrashLoop is how many short runs in a row are reported as a crash
	// loop (an error, once per loop) rather than as single exits.
	CrashLoop = 5
)

// Supervisor keeps one long-lived command running as long as its context
// lives: started through the guard ([GuardMain]) in its own process group,
// restarted with exponential backoff when it exits, stopped (SIGTERM to the
// group, Grace, SIGKILL) when the context ends. The command never outlives
// the supervisor's process: if leadergate dies, even by SIGKILL, the
// kernel's parent-death signal reaches the guard, which SIGKILLs the group.
type Supervisor struct {
	Argv   []string
	Env    []string  // the command's whole environment (nil: leadergate's)
	Stdout io.Writer // nil: leadergate's own
	Stderr io.Writer // nil: leadergate's own
	Grace  time.Duration
	// Backoff between restarts, doubling from BackoffMin to BackoffMax;
	// back to BackoffMin after a run of at least Stable.
	BackoffMin, BackoffMax, Stable time.Duration
	Logger                         *slog.Logger
	Clock                          clock.Clock // waits between restarts; nil: the system clock
	// Started and Exited, when set, hear each run (pings, the failure
	// hook); stopped says the supervisor stopped it (its context ended),
	// rather than it exiting on its own.
	Started func(pid int)
	Exited  func(code int, d time.Duration, stopped bool)
	// Guard is the guard's executable (os.Executable() when empty), run
	// as `leadergate __guard CMD...`.
	Guard string
}

// Run keeps the command running until ctx ends, then stops it and returns
// once its process group is gone. It returns an error only when the command
// cannot be started at all (a *StartError: not found, not executable).
func (s *Supervisor) Run(ctx context.Context) error {
	if len(s.Argv) == 0 {
		return errors.New("supervise: no command")
	}
	guard, err := s.guard()
	if err != nil {
		return err
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := clock.Or(s.Clock)
	bmin, bmax, stable := or(s.BackoffMin, DefaultBackoffMin), or(s.BackoffMax, DefaultBackoffMax), or(s.Stable, DefaultStable)
	backoff, short := bmin, 0
	for attempt := 1; ctx.Err() == nil; attempt++ {
		start := time.Now()
		code, cancelled, pid, err := s.once(ctx, guard)
		if err != nil {
			return err
		}
		d := time.Since(start)
		if s.Exited != nil {
			s.Exited(code, d, cancelled || ctx.Err() != nil)
		}
		if cancelled || ctx.Err() != nil {
			log.Info("service command stopped", "pid", pid, "exit_code", code, "duration", d.Round(time.Millisecond))
			return nil
		}
		if d >= stable {
			backoff, short = bmin, 0
		} else {
			short++
		}
		switch {
		case short == CrashLoop:
			log.Error("service command is in a crash loop: it keeps exiting soon after it starts; restarting with backoff",
				"exits_in_a_row", short, "exit_code", code, "duration", d.Round(time.Millisecond), "restart_in", backoff)
		default:
			log.Warn("service command exited; restarting", "pid", pid, "exit_code", code, "duration", d.Round(time.Millisecond), "restart_in", backoff, "attempt", attempt)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.After(backoff):
		}
		backoff = min(2*backoff, bmax)
	}
	return nil
}

// RunOnce runs the command once, through the guard as Run does, until it
// exits or ctx ends (then it stops it), and returns its exit code as a
// shell reports it. err is a *StartError when it cannot start.
func (s *Supervisor) RunOnce(ctx context.Context) (code int, err error) {
	if len(s.Argv) == 0 {
		return exitcode.Usage, errors.New("supervise: no command")
	}
	guard, err := s.guard()
	if err != nil {
		var se *StartError
		if errors.As(err, &se) {
			return se.Code, err
		}
		return exitcode.Failure, err
	}
	code, _, _, err = s.once(ctx, guard)
	return code, err
}

// guard checks the command and finds the guard's executable.
func (s *Supervisor) guard() (string, error) {
	if _, se := Resolve(s.Argv[0]); se != nil {
		return "", se
	}
	if s.Guard != "" {
		return s.Guard, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("supervise: cannot find leadergate's own executable for the guard: %w", err)
	}
	return exe, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// once runs the command once, until it exits or ctx ends.
func (s *Supervisor) once(ctx context.Context, guard string) (code int, cancelled bool, pid int, err error) {
	cmd := &exec.Cmd{Path: guard, Args: append([]string{"leadergate", GuardArg}, s.Argv...), Env: s.Env}
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	// A descendant that left the group but keeps the output pipe open
	// must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: parentDeathSignal}
	type result struct {
		code      int
		cancelled bool
		pid       int
		err       error
	}
	done := make(chan result, 1)
	// The parent-death signal fires when the thread that forked the guard
	// exits, not the process: Go ends a thread whose goroutine exits while
	// locked to it. So one goroutine, locked to its thread, starts the
	// guard and stays until it is gone.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		g, err := StartGroup(cmd)
		if err != nil {
			done <- result{err: err}
			return
		}
		if s.Started != nil {
			s.Started(g.Pgid())
		}
		code, cancelled := g.Wait(ctx, or(s.Grace, DefaultGrace))
		// Whatever the command left in its group goes with it: a second
		// copy must not outlive this run.
		_ = g.kill(syscall.SIGKILL)
		done <- result{code, cancelled, g.Pgid(), nil}
	}()
	r := <-done
	return r.code, r.cancelled, r.pid, r.err
}
