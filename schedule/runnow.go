package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// NoJobError is a --run-now name that no job of the file has: exit 64.
type NoJobError struct {
	Name, File string
	Names      []string // the jobs the file has
}

func (e *NoJobError) Error() string {
	if len(e.Names) == 0 {
		return fmt.Sprintf("no job named %q in %s: it has no jobs", e.Name, e.File)
	}
	return fmt.Sprintf("no job named %q in %s: its jobs are %s", e.Name, e.File, strings.Join(e.Names, ", "))
}

// ExitCode is 64, EX_USAGE.
func (e *NoJobError) ExitCode() int { return exitcode.Usage }

// NotLeaderError is a leader-only job asked to run now on a follower: exit 1,
// as check says "not the leader".
type NotLeaderError struct{ Reason string }

func (e *NotLeaderError) Error() string {
	return "not run: this instance is not the leader (" + e.Reason + "); pass --assume leader to run it here anyway"
}

// ExitCode is 1, a follower.
func (e *NotLeaderError) ExitCode() int { return 1 }

// RunNow runs the job named name of opts.File once, now, exactly as the
// scheduler would run it at a tick: the same environment (with
// LEADERGATE_SCHEDULED_AT set to now), shell, working directory, process
// group, # timeout:, logging and hooks, and for a leader-only job the same
// election through opts.Authority. It answers "does my job work under the
// scheduler?" and returns the job's exit code. The tick ledger is not used
// (a test run claims no tick) and # jitter: is not waited for.
func RunNow(ctx context.Context, opts Options, name string) (int, error) {
	if err := opts.defaults(); err != nil {
		return 0, err
	}
	opts.Ledger = nil
	c, err := opts.parse()
	if err != nil {
		return 0, err
	}
	var job *Job
	names := make([]string, 0, len(c.Jobs))
	for i := range c.Jobs {
		names = append(names, c.Jobs[i].Name)
		// FILE:LINE, as --check prints it, also names a job: the only
		// handle an unnamed job had before its name was derived.
		if c.Jobs[i].Name == name || isLineName(c.Jobs[i], name) && job == nil {
			job = &c.Jobs[i]
		}
	}
	if job == nil {
		return 0, &NoJobError{Name: name, File: opts.File, Names: names}
	}
	j := *job
	j.Jitter = 0
	tick := opts.Clock.Now().Truncate(time.Second)
	if !j.EveryInstance {
		p, err := opts.Authority.MayRun(ctx, gate.Job{Name: j.Name, Tick: tick})
		if err != nil {
			return 0, err
		}
		if !p.Run {
			return 0, &NotLeaderError{Reason: p.Reason}
		}
	}
	got := &captureHooks{Hooks: opts.Hooks}
	opts.Hooks = got
	opts.Dir = JobDir(opts.Dir, opts.Logger)
	r := &runner{
		opts:    opts,
		log:     opts.Logger,
		clock:   opts.Clock,
		environ: os.Environ(),
		running: map[string]int{},
	}
	r.leaderCtx, r.stopLeader = context.WithCancelCause(ctx)
	defer r.stopLeader(nil)
	r.runOnce(ctx, j, tick, due)
	switch {
	case !got.done:
		return 0, errors.New("the job did not run: see the log above")
	case got.res.Err != nil:
		return 0, &gateError{code: got.res.Code, err: got.res.Err}
	}
	return got.res.Code, nil
}

type gateError struct {
	code int
	err  error
}

func (e *gateError) Error() string { return e.err.Error() }
func (e *gateError) Unwrap() error { return e.err }
func (e *gateError) ExitCode() int { return e.code }

// captureHooks keeps the result of the one run of RunNow.
type captureHooks struct {
	Hooks
	done bool
	res  Result
}

func (h *captureHooks) Finished(info RunInfo, res Result) {
	h.Hooks.Finished(info, res)
	h.done, h.res = true, res
}
