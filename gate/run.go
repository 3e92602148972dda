package gate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/flock"
	"github.com/leadergate/leadergate/internal/voice"
)

// DefaultGrace is the time between SIGTERM and SIGKILL when Options.Grace is
// zero: long enough for a PHP or Python job to finish a transaction, short
// enough that a stuck run does not overlap the next cron minute by much.
const DefaultGrace = 10 * time.Second

// Options says how Run runs one command.
type Options struct {
	Argv         []string      // the command after --, never through a shell
	FollowerExit int           // exit code on a follower (0..255)
	NoOverlap    bool          // per-command flock taken before exec and inherited by the command
	LockName     string        // key for NoOverlap; default derived from Argv
	LockDir      string        // where overlap locks live (the state dir)
	MaxRuntime   time.Duration // 0: execve; >0: stay parent, forward SIGTERM/SIGINT/SIGHUP, stop the group after it, exit 124
	Grace        time.Duration // between SIGTERM and SIGKILL (DefaultGrace when 0)
	DryRun       bool          // say what would happen on Stderr, run nothing
	Verbose      bool          // say why on Stderr (follower skips are otherwise silent)
	Stderr       io.Writer     // for leadergate's own lines; os.Stderr when nil. Unbuffered: execve discards buffers
	Clock        clock.Clock   // measures MaxRuntime; nil is the system clock
	// Observer, when set, hears the command start and end (pings, the
	// failure hook of run --ping-url / --on-failure): leadergate then stays
	// as parent, as with MaxRuntime.
	Observer Observer
	// Turn, when set, is the tick ledger: the Authority's answer only says
	// whether this instance claims at the tick or after the takeover delay
	// (an election that failed is no reason to skip), and the Turn decides.
	// It is asked once the command is found and the overlap lock taken,
	// so that a run that never starts is never claimed. A claimed command
	// runs as a child holding the claim (as with MaxRuntime) and its end is
	// recorded (124 after MaxRuntime). A dry run only looks.
	Turn Turn
	// RerunLost is --on-lost rerun: with Turn, a run lost with its
	// instance runs again rather than being recorded lost.
	RerunLost bool
}

// Observer hears a supervised command's start and end.
type Observer interface {
	// Started is called as the command starts, with the run's name as the
	// command sees it (under a ledger: its claim's run id).
	Started(run RunEnv)
	// Output gets a copy of the command's stdout and stderr.
	Output() io.Writer
	// Finished is called with the exit code once the command has ended
	// (not when it could not start).
	Finished(code int, d time.Duration)
	// Lost is called when the tick's earlier run is found lost with its
	// instance: nobody else will report it, as its instance died.
	Lost(run LostRun)
}

// codedError carries the exit code leadergate ends with.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// ExitCode is the process exit code this error calls for.
func (e *codedError) ExitCode() int { return e.code }

func usageError(format string, args ...any) error {
	return &codedError{exitcode.Usage, fmt.Errorf(format, args...)}
}

// check validates opts and fills in defaults.
func (o Options) check() (Options, error) {
	if len(o.Argv) == 0 || o.Argv[0] == "" {
		return o, usageError("run: no command given; put it after --, e.g. leadergate run -- php app/console foo")
	}
	if o.FollowerExit < 0 || o.FollowerExit > 255 {
		return o, usageError("run: --follower-exit %d is out of range; use 0 to 255", o.FollowerExit)
	}
	if o.MaxRuntime < 0 {
		return o, usageError("run: --max-runtime %s is negative; use a positive duration such as 30m, or 0 for none", o.MaxRuntime)
	}
	if o.Grace < 0 {
		return o, usageError("run: grace period %s is negative; use a positive duration such as 10s", o.Grace)
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	if o.LockName != "" && !validLockName(o.LockName) {
		return o, usageError("run: --lock-name %q: use only letters, digits, '.', '_' and '-'", o.LockName)
	}
	if o.NoOverlap && o.LockDir == "" {
		return o, &codedError{exitcode.Config, errors.New("run: --no-overlap needs a directory for its lock; set --state-dir")}
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return o, nil
}

func validLockName(s string) bool {
	if s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// display is the command as messages quote it.
func display(argv []string) string { return strconv.Quote(strings.Join(argv, " ")) }

type action int

const (
	actRun  action = iota // go on: lock, look up, exec
	actSkip               // exit with code, nothing run
	actFail               // exit with err, nothing run
)

// decision is what Run does with the Authority's answer. It is computed
// without I/O so that every combination can be tested.
type decision struct {
	act   action
	code  int      // exit code for actSkip and actFail
	err   error    // for actFail
	lines []string // for Stderr, each without the "leadergate: " prefix
}

// decide turns the Authority's answer into an action. It fails closed: an
// error means "cannot tell", and the command does not run.
func decide(p Permit, authErr error, o Options) decision {
	what := display(o.Argv)
	if authErr != nil {
		// An answer that says nothing else means "cannot tell".
		code := elect.CannotTell(authErr)
		return decision{act: actFail, code: code, err: &codedError{code, fmt.Errorf("run: %s not run: %w", what, authErr)}}
	}
	var d decision
	if p.Stale {
		note := p.Note
		if note == "" {
			note = "using an older verdict (--stale-ok)"
		}
		d.lines = append(d.lines, "warning: "+note)
	}
	if !p.Run {
		d.act, d.code = actSkip, o.FollowerExit
		switch {
		case o.DryRun:
			d.lines = append(d.lines, fmt.Sprintf("dry run: would skip %s: %s", what, p.Reason))
		case o.Verbose:
			d.lines = append(d.lines, fmt.Sprintf("skipped %s: %s", what, p.Reason))
		}
		return d
	}
	d.act = actRun
	if o.Verbose && !o.DryRun && o.Turn == nil { // with a ledger, once claimed
		d.lines = append(d.lines, fmt.Sprintf("running %s: %s", what, p.Reason))
	}
	return d
}

// Run asks auth whether job may run and acts on the answer.
//
// On the leader it execve's opts.Argv in place of this process and does not
// return on success; with opts.MaxRuntime it runs the command as a child in
// its own process group instead and returns its exit code. On a follower it
// returns opts.FollowerExit and prints nothing (unless opts.Verbose). When
// auth cannot tell, nothing runs and the error says why (ExitCode 75 or 78).
//
// code is the exit code to end with; when err is non-nil, code equals
// exitcode.Of(err) and err is one line for "leadergate: error: ". Warnings and
// notes are written to opts.Stderr by Run itself.
//
// ctx bounds the question to auth and, with a Turn, the wait for this
// instance's turn (a context cancelled with a cause that has an ExitCode,
// such as a signal, ends Run with that code). Once the command runs, it
// ends by itself, by the signals forwarded to it, or by MaxRuntime, not by
// ctx: a CLI that cancels its context on SIGTERM would otherwise signal the
// command twice.
func Run(ctx context.Context, auth Authority, job Job, opts Options) (code int, err error) {
	o, err := opts.check()
	if err != nil {
		return exitcode.Of(err), err
	}
	p, authErr := auth.MayRun(ctx, job)
	if o.Turn != nil {
		return runTurn(ctx, o, job, p, authErr)
	}
	d := decide(p, authErr, o)
	for _, l := range d.lines {
		voice.Say(o.Stderr, voice.Info, l)
	}
	switch d.act {
	case actSkip:
		if o.Verbose || o.DryRun {
			warnUnresolved(o)
		}
		return d.code, nil
	case actFail:
		return d.code, d.err
	}
	return runLeader(ctx, o, p.Reason, nil)
}

// runTurn is Run with a tick ledger: the Authority's answer is the hint of
// who claims first. Only a configuration error (78) stops the run here; an
// election that failed only delays this instance's turn.
func runTurn(ctx context.Context, o Options, job Job, p Permit, authErr error) (int, error) {
	if authErr != nil && elect.CannotTell(authErr) == exitcode.Config {
		d := decide(p, authErr, o)
		return d.code, d.err
	}
	req := &TurnRequest{Job: job, Leader: authErr == nil && p.Run, RerunLost: o.RerunLost}
	reason := p.Reason
	switch {
	case authErr != nil:
		reason = "the election failed: this instance claims after the takeover delay if nobody has"
		voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("election failed (%v); taking the tick over after the takeover delay if nobody has", authErr))
	case p.Stale:
		voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("%s", p.Note))
	}
	return runLeader(ctx, o, reason, req)
}

// warnUnresolved is a follower's check of its command: it looks the
// command up on PATH as the leader would and, when the leader would fail
// to start it, says so on Stderr. Nothing runs and the exit code stays the
// follower's.
func warnUnresolved(o Options) {
	if _, err := Resolve(o.Argv[0]); err != nil {
		voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("%s (a leader would exit %d)", err, err.Code))
	}
}

// Resolve looks name up on PATH as Run does. The error says, as a shell
// would, why it cannot be started (ExitCode 127 or 126).
func Resolve(name string) (path string, err *StartError) {
	path, lerr := exec.LookPath(name)
	if lerr != nil {
		return "", startError(name, lerr)
	}
	return path, nil
}

// runLeader runs the command on the leader (or, with a Turn, on whoever's
// turn it is): look it up, take the overlap lock, claim the tick in the
// ledger, then exec or supervise. ctx only bounds the claim's wait.
func runLeader(ctx context.Context, o Options, reason string, req *TurnRequest) (int, error) {
	what := display(o.Argv)
	path, se := Resolve(o.Argv[0])
	if se != nil {
		return se.Code, fmt.Errorf("run: %w", se)
	}

	var lock *os.File
	if o.NoOverlap {
		lp := lockPath(o.LockDir, o.LockName, o.Argv)
		var held bool
		var err error
		lock, held, err = takeLock(lp)
		if err != nil {
			return exitcode.Of(err), err
		}
		if held && req != nil && !o.DryRun {
			// Under the ledger, the tick is recorded skipped fleet-wide,
			// so that no other instance takes it over beside this run.
			req.Slot = Slot{Take: func() bool { return false }}
		} else if held {
			if o.DryRun {
				voice.Say(o.Stderr, voice.Info, fmt.Sprintf("dry run: would skip %s: previous run still running (--no-overlap)", what))
			} else {
				voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("skipped: previous run of %s still running (--no-overlap)", what))
			}
			return 0, nil
		}
		// In exec mode execve keeps the lock in the command; this Close
		// only runs when Run returns, i.e. after a dry run, a failed
		// execve or a supervised run.
		defer lock.Close()
	}

	if o.DryRun {
		if req != nil {
			c, err := o.Turn.Look(ctx, *req)
			if err != nil {
				return notRun(what, err)
			}
			if c.Result != ClaimWon && c.Result != ClaimTakenOver {
				voice.Say(o.Stderr, voice.Info, fmt.Sprintf("dry run: would skip %s: %s", what, c.Why))
				return o.FollowerExit, nil
			}
			reason += "; " + c.Why
		}
		voice.Say(o.Stderr, voice.Info, fmt.Sprintf("dry run: would run %s (%s): %s", what, path, reason))
		return o.FollowerExit, nil
	}
	var claim Held
	var env RunEnv // the run's name, as the command and the Observer see it
	if req != nil {
		h, err := takeTurn(ctx, o, *req, reason)
		if err != nil {
			return exitcode.Of(err), err
		}
		if h == nil {
			return o.FollowerExit, nil
		}
		claim, env.RunID, env.Fence = h, h.RunID(), h.Fence()
		env.Job, env.Tick = req.Job.Name, req.Job.Tick
	}
	ctx = context.WithoutCancel(ctx)
	if o.MaxRuntime > 0 || o.Observer != nil || claim != nil {
		return supervise(ctx, o, path, lock, claim, env)
	}
	return execve(o, path, lock)
}

// takeTurn asks the Turn for the tick and says what came of it; a nil
// Held and nil error: not this instance's to run.
func takeTurn(ctx context.Context, o Options, req TurnRequest, reason string) (Held, error) {
	what := display(o.Argv)
	c, err := o.Turn.Take(ctx, req)
	if err != nil {
		if ctx.Err() != nil && exitcode.Of(context.Cause(ctx)) > 1 {
			return nil, context.Cause(ctx) // a signal while waiting: the CLI's own exit
		}
		_, err := notRun(what, err)
		return nil, err
	}
	tick := req.Job.Tick.UTC().Format("2006-01-02T15:04:05Z")
	if l := c.Lost; l != nil {
		if c.Held != nil {
			voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("rerunning %q at %s: attempt %d on %s was lost with its instance", req.Job.Name, tick, l.Attempt, l.Owner))
		} else {
			voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("the run of %q at %s on %s was lost with its instance (lease ended while running); recorded lost, not rerun (--on-lost rerun allows it)",
				req.Job.Name, tick, l.Owner))
		}
		if o.Observer != nil {
			o.Observer.Lost(*l)
		}
	}
	switch {
	case c.Busy && c.Skipped != "":
		voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("skipped: previous run of %s still running (--no-overlap); the tick is recorded skipped", what))
	case c.Busy:
		voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("skipped: previous run of %s still running (--no-overlap); %s", what, c.Why))
	case c.Held == nil && o.Verbose:
		voice.Say(o.Stderr, voice.Info, fmt.Sprintf("skipped %s: %s", what, c.Why))
	case c.Held != nil && o.Verbose:
		voice.Say(o.Stderr, voice.Info, fmt.Sprintf("running %s: %s; %s", what, reason, c.Why))
	}
	return c.Held, nil
}

// notRun is the failure of a ledger that could not be asked: as with an
// Authority that cannot tell, nothing runs.
func notRun(what string, err error) (int, error) {
	code := elect.CannotTell(err)
	return code, &codedError{code, fmt.Errorf("run: %s not run: %w", what, err)}
}

// execve replaces this process with the command: same pid, so exit code,
// signals and stdio are the command's own. Go opens every file with
// O_CLOEXEC, so only the lock (on purpose) and what this process inherited
// reach the command. It returns only when execve fails.
func execve(o Options, path string, lock *os.File) (int, error) {
	if lock != nil {
		if _, err := unix.FcntlInt(lock.Fd(), unix.F_SETFD, 0); err != nil {
			return exitcode.TempFail, &codedError{exitcode.TempFail, fmt.Errorf("run: pass the overlap lock to %s: %w", display(o.Argv), err)}
		}
	}
	err := syscall.Exec(path, o.Argv, os.Environ())
	runtime.KeepAlive(lock) // the finalizer must not close the fd before execve
	se := startError(o.Argv[0], err)
	return se.Code, fmt.Errorf("run: %w", se)
}

var errMaxRuntime = errors.New("max runtime exceeded")

// supervise runs the command as a child in its own process group, forwards
// SIGTERM, SIGINT and SIGHUP to the group, and stops the group after
// MaxRuntime or when its ledger claim (when not nil) is lost.
func supervise(ctx context.Context, o Options, path string, lock *os.File, claim Held, env RunEnv) (int, error) {
	cmd := &exec.Cmd{
		Path:   path,
		Args:   o.Argv,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
	if claim != nil {
		cmd.Env = append(os.Environ(), env.Env()...)
	}
	if lock != nil {
		cmd.ExtraFiles = []*os.File{lock} // fd 3 in the command, so the lock outlives leadergate
	}
	// The output also goes to whoever reports on the run: the Observer's
	// pings and hooks, and the ledger's record of a failed run (history's
	// output tail). Then the command writes to pipes, not to leadergate's
	// own stdout and stderr.
	var taps []io.Writer
	if o.Observer != nil {
		taps = append(taps, o.Observer.Output())
	}
	keeper, _ := claim.(TailKeeper)
	var tail TailBuffer
	if keeper != nil {
		taps = append(taps, &tail)
	}
	if len(taps) > 0 {
		cmd.Stdout = io.MultiWriter(append([]io.Writer{os.Stdout}, taps...)...)
		cmd.Stderr = io.MultiWriter(append([]io.Writer{os.Stderr}, taps...)...)
	}
	// Catch the signals before starting: one that came in between would
	// kill leadergate and leave the command unsupervised.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	g, err := StartGroup(cmd)
	if err != nil {
		code := exitcode.Of(err)
		if claim != nil {
			// Nothing ran: record the failure to start, so history says so.
			_, finish := claim.Hold(ctx, o.Grace)
			if ferr := finish(End{Code: code}); ferr != nil {
				voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("run: %v", ferr))
			}
		}
		return code, fmt.Errorf("run: %w", err)
	}
	started := time.Now()
	if o.Observer != nil {
		if env.RunID == "" {
			env.RunID = NewRunID()
		}
		o.Observer.Started(env)
	}
	var finish func(End) error
	if claim != nil {
		ctx, finish = claim.Hold(ctx, o.Grace)
	}
	cancel := context.CancelFunc(func() {})
	if o.MaxRuntime > 0 {
		ctx, cancel = clock.WithTimeoutCause(ctx, o.Clock, o.MaxRuntime, errMaxRuntime)
	}
	defer cancel()
	stop := make(chan struct{})
	forwarded := make(chan struct{})
	var stopSignal bool // SIGTERM or SIGINT forwarded: a shutdown, a deploy
	go func() {
		defer close(forwarded)
		for {
			select {
			case s := <-sigs:
				stopSignal = stopSignal || s == syscall.SIGTERM || s == syscall.SIGINT
				_ = g.Signal(s.(syscall.Signal)) // the group may be gone already
			case <-stop:
				return
			}
		}
	}()
	code, cancelled := g.Wait(ctx, o.Grace)
	close(stop)
	<-forwarded
	timedOut := cancelled && errors.Is(context.Cause(ctx), errMaxRuntime)
	var ferr error
	if finish != nil {
		recorded := code
		if timedOut {
			recorded = exitcode.MaxRuntime
		}
		if keeper != nil && recorded != 0 {
			keeper.SetTail(tail.Bytes())
		}
		// A command that a shutdown's SIGTERM stopped did not fail: its
		// claim is let go, so that it reads lost and --on-lost rerun (or
		// # on-lost: rerun) runs it again; one that still exited 0 is done.
		ferr = finish(End{Code: recorded, Stopped: stopSignal && !timedOut && code != 0})
	}
	if o.Observer != nil {
		o.Observer.Finished(code, time.Since(started))
	}
	switch {
	case timedOut:
		if ferr != nil {
			voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("run: %v", ferr))
		}
		return exitcode.MaxRuntime, &codedError{exitcode.MaxRuntime, fmt.Errorf(
			"run: %s ran longer than --max-runtime %s and was stopped; raise --max-runtime or find out why it runs long",
			display(o.Argv), o.MaxRuntime)}
	case ferr != nil && cancelled:
		// Stopped because the claim was lost: an error, with the
		// command's own exit code.
		return code, &codedError{code, fmt.Errorf("run: %s: %w", display(o.Argv), ferr)}
	case ferr != nil:
		voice.Say(o.Stderr, voice.Warning, fmt.Sprintf("run: %v", ferr))
	}
	return code, nil
}

// lockPath is the overlap lock of a command: named by --lock-name, or by the
// program's base name and a hash of the whole argv (readable in ls, and two
// commands differing in one argument do not share a lock).
func lockPath(dir, name string, argv []string) string {
	if name == "" {
		sum := sha256.Sum256([]byte(strings.Join(argv, "\x00"))) // argv holds no NUL
		base := []byte(filepath.Base(argv[0]))
		for i, c := range base {
			if !validLockName(string(c)) {
				base[i] = '_'
			}
		}
		if len(base) > 32 {
			base = base[:32]
		}
		name = string(base) + "-" + hex.EncodeToString(sum[:8])
	}
	return filepath.Join(dir, "run-"+name+".lock")
}

// takeLock takes the flock at path without waiting. held reports that
// another process holds it. The lock's directory (the state dir) is checked
// as the election checks it, --assume or not: created 0700, refused when
// another user owns it or group or others can write it.
func takeLock(path string) (f *os.File, held bool, err error) {
	if err := (&elect.Store{Dir: filepath.Dir(path)}).Ensure(); err != nil {
		return nil, false, fmt.Errorf("run: overlap lock: %w", err)
	}
	f, err = flock.Open(path)
	if err != nil {
		return nil, false, &codedError{exitcode.Config, fmt.Errorf("run: open overlap lock: %w; check the owner and permissions of --state-dir", err)}
	}
	held, err = flock.TryLock(f)
	if err != nil || held {
		f.Close()
		f = nil
	}
	if err != nil {
		return nil, false, &codedError{exitcode.TempFail, fmt.Errorf("run: %w; try again, or drop --no-overlap", err)}
	}
	return f, held, nil
}
