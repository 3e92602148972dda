package schedule

import (
	"context"
	"errors"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// Hooks hear what the scheduler does: metrics, pings, failure hooks and
// systemd's watchdog are built on them (see Options.Hooks). Every method is
// called from the scheduler's own goroutines and must not block: a hook
// that talks to the network does so in the background, so that it never
// delays or fails a job.
type Hooks interface {
	// Loaded is called after the schedule is read, at start and after
	// every successful reload.
	Loaded(jobs []Job)
	// Planned is called with a job's next nominal run (zero: never).
	Planned(job Job, next time.Time)
	// Alive is called each time the loop goes round (at least every
	// Options.Heartbeat when that is set): the loop is not wedged.
	Alive()
	// Leadership is called after each background leadership check.
	Leadership(leader bool, err error)
	// Started is called when a run's process is about to start.
	Started(run RunInfo)
	// Finished is called when a run has ended, whatever the way.
	Finished(run RunInfo, res Result)
	// Drained is called when this instance starts to drain.
	Drained()
	// Claimed is called with the tick ledger's answer for a leader-only
	// tick: ClaimWon, ClaimTakenOver or ClaimTakenElsewhere. A tick the
	// ledger decided nothing about (shutdown, its previous run still
	// running here, the ledger unreachable) is not reported.
	Claimed(job Job, tick time.Time, result string)
	// LostRun is called when this instance finds the run of a tick lost
	// with its instance (its lease ran out) and records it lost or, for
	// "# on-lost: rerun", reruns it: once per lost run fleet-wide. run has
	// the lost attempt's id and number; its output died with it.
	LostRun(run RunInfo)
	// CaughtUp is called when this instance claims a tick missed while no
	// scheduler ran, to run it late (catch-up).
	CaughtUp(job Job, tick time.Time)
	// Missed is called when this instance finds a tick of a leader-only
	// job that no instance ran and none recorded a reason for (every
	// scheduler was down across it) and records it missed: once per tick
	// fleet-wide. It is a failed run that never happened.
	Missed(job Job, tick time.Time)
	// Skipped is called when this instance records a tick not run on
	// purpose, with why (paused by an operator).
	Skipped(job Job, tick time.Time, reason string)
}

// RunInfo names one run of a job.
type RunInfo struct {
	Job      Job
	Tick     time.Time     // the nominal tick, as in LEADERGATE_SCHEDULED_AT
	ID       string        // LEADERGATE_RUN_ID
	Attempt  int           // 1, then 2... for "# retry:"
	Fence    int64         // LEADERGATE_FENCE under a ledger claim; 0 without
	Lateness time.Duration // how long after its tick the run started
}

// Env is the run's LEADERGATE_* variables, built by gate.RunEnv, the one
// place that writes them: the job sees what the logs, hooks and pings say,
// its tick in the job's own zone (CRON_TZ).
func (r RunInfo) Env() []string {
	return gate.RunEnv{Job: r.Job.Name, Tick: r.Tick.In(r.Job.TZ), RunID: r.ID, Attempt: r.Attempt, Fence: r.Fence}.Env()
}

// Outcomes of a run, the "result" label of the runs metric.
const (
	Succeeded  = "succeeded"
	Failed     = "failed"      // exit code not 0
	TimedOut   = "timed_out"   // stopped by its "# timeout:"
	Stopped    = "stopped"     // by shutdown or a drain
	NotStarted = "not_started" // the command could not be started
	// Lost: the run died with its instance, found by the tick ledger on
	// another instance (reported there, through Hooks.LostRun).
	Lost = "lost"
	// Missed: nobody ran the tick (Hooks.Missed).
	Missed = "missed"
)

// Result is how a run ended.
type Result struct {
	Outcome  string // one of Succeeded, Failed, TimedOut, Stopped, NotStarted
	Code     int    // exit code; 128+N for death by signal N
	Err      error  // why it could not start, for NotStarted
	Duration time.Duration
	// Tail is the end of the run's output (stdout and stderr as they came),
	// at most gate.MaxTail bytes.
	Tail []byte
}

// Failure reports whether the run counts as failed for pings and the
// failure hook: anything but success, a stop by shutdown or drain included
// (the run did not do its work).
func (r Result) Failure() bool { return r.Outcome != Succeeded }

// outcome classifies a run from gate.RunGroup's answer and the contexts it
// ran in.
func outcome(ctx, jobCtx context.Context, code int, err error) string {
	switch {
	case err != nil:
		return NotStarted
	case ctx.Err() != nil, errors.Is(context.Cause(jobCtx), ErrDrained):
		return Stopped
	case errors.Is(context.Cause(jobCtx), errTimedOut):
		return TimedOut
	case code != 0:
		return Failed
	}
	return Succeeded
}

// MultiHooks calls each of hs in turn.
type MultiHooks []Hooks

func (m MultiHooks) Loaded(jobs []Job) {
	for _, h := range m {
		h.Loaded(jobs)
	}
}

func (m MultiHooks) Planned(job Job, next time.Time) {
	for _, h := range m {
		h.Planned(job, next)
	}
}

func (m MultiHooks) Alive() {
	for _, h := range m {
		h.Alive()
	}
}

func (m MultiHooks) Leadership(leader bool, err error) {
	for _, h := range m {
		h.Leadership(leader, err)
	}
}

func (m MultiHooks) Started(run RunInfo) {
	for _, h := range m {
		h.Started(run)
	}
}

func (m MultiHooks) Finished(run RunInfo, res Result) {
	for _, h := range m {
		h.Finished(run, res)
	}
}

func (m MultiHooks) Drained() {
	for _, h := range m {
		h.Drained()
	}
}

func (m MultiHooks) Claimed(job Job, tick time.Time, result string) {
	for _, h := range m {
		h.Claimed(job, tick, result)
	}
}

func (m MultiHooks) LostRun(run RunInfo) {
	for _, h := range m {
		h.LostRun(run)
	}
}

func (m MultiHooks) CaughtUp(job Job, tick time.Time) {
	for _, h := range m {
		h.CaughtUp(job, tick)
	}
}

func (m MultiHooks) Missed(job Job, tick time.Time) {
	for _, h := range m {
		h.Missed(job, tick)
	}
}

func (m MultiHooks) Skipped(job Job, tick time.Time, reason string) {
	for _, h := range m {
		h.Skipped(job, tick, reason)
	}
}

// NopHooks does nothing; embed it to implement only some of Hooks.
type NopHooks struct{}

func (NopHooks) Loaded([]Job)                   {}
func (NopHooks) Planned(Job, time.Time)         {}
func (NopHooks) Alive()                         {}
func (NopHooks) Leadership(bool, error)         {}
func (NopHooks) Started(RunInfo)                {}
func (NopHooks) Finished(RunInfo, Result)       {}
func (NopHooks) Drained()                       {}
func (NopHooks) Claimed(Job, time.Time, string) {}
func (NopHooks) LostRun(RunInfo)                {}
func (NopHooks) CaughtUp(Job, time.Time)        {}
func (NopHooks) Missed(Job, time.Time)          {}
func (NopHooks) Skipped(Job, time.Time, string) {}
