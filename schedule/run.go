package schedule

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// Defaults of Options.
const (
	DefaultRefresh = time.Minute
	DefaultGrace   = 30 * time.Second
)

const (
	// maxSleep bounds one wait of the scheduler so that a step of the
	// wall clock (NTP, a resumed VM) is noticed within a minute.
	maxSleep = time.Minute
	// maxLateness is how late a tick may still fire. Later ticks (the
	// process was stopped, the clock jumped) are skipped with a warning
	// rather than run long after their time: cron does not catch up either.
	maxLateness = time.Minute
	// outputDrain is how long output is still read after a job's shell has
	// exited, while a background process it left keeps the pipe open.
	outputDrain = 5 * time.Second
	// stopSlack is added to Grace when waiting for jobs at shutdown, for the
	// SIGKILLed processes to be reaped and their output drained.
	stopSlack = outputDrain + 5*time.Second
)

// Clock is the scheduler's view of time, the one clock main hands to every
// part of leadergate; tests pass a fake one.
type Clock = clock.Clock

// Options configure Run.
type Options struct {
	File string // the crontab, read with ParseFile at start and on reload
	// Authority is asked before each run of a leader-only job, with the
	// job's name and nominal tick, and by the background refresh.
	Authority gate.Authority
	Logger    *slog.Logger // nil discards logs
	// Refresh is the period of the background leadership check that keeps
	// the tag and marker current and logs transitions: 0 means
	// DefaultRefresh, negative turns it off.
	Refresh time.Duration
	// Grace is how long running jobs get between SIGTERM and SIGKILL at
	// shutdown: 0 means DefaultGrace.
	Grace time.Duration
	// AllowOverlap runs a job even when its previous run is still going;
	// by default that tick is skipped with a warning.
	AllowOverlap bool
	// Reload re-reads File on every receive (wire SIGHUP to it). A bad
	// file is reported and the current schedule kept.
	Reload <-chan os.Signal
	Clock  Clock // nil means the real clock
	// Ledger, when set, is asked for every leader-only tick (see [Ledger]).
	Ledger Ledger
	// CatchUp is the catch-up window of jobs without "# catch-up:".
	CatchUp time.Duration
	// Controls, with Ledger, are the operators' controls (see [Controls]).
	Controls Controls

	// Drains tells of this instance's drains (package lifecycle sends
	// them). The Authority already answers "follower" while this instance
	// drains, so no new leader-only run starts; leader-only runs still going
	// get SIGTERM at the drain's Deadline minus Grace (at once when that has
	// passed) and SIGKILL after Grace. A zero Deadline lets them finish.
	Drains <-chan Drain
	// LeaderJobs, when set, is called with the number of leader-only runs
	// in progress each time it changes (for --protect). It must not block.
	LeaderJobs func(running int)

	// Hooks hear of loads, plans, runs and leadership (metrics, pings, the
	// failure hook, systemd's watchdog); nil: none.
	Hooks Hooks
	// Heartbeat, when positive, makes the loop go round (and call
	// Hooks.Alive) at least this often, in real time.
	Heartbeat time.Duration
	// Dir is the directory every job starts in, by path, looked up again
	// at each start: a deploy that replaces it (Elastic Beanstalk moves a
	// new /var/app/current into place) gives the next run the new one.
	// Empty means the path the scheduler was started in (see [JobDir]).
	Dir string
	// Namespace, when set, is put in front of every job's name ("NS/name"),
	// in logs, metrics, hooks and the tick ledger: what sets the jobs of
	// this crontab apart from those of another scheduler of the same group
	// (Elastic Beanstalk's root crontab beside the application's), so that
	// a job named alike in both is two jobs, not one ledger key.
	Namespace string
}

// defaults fills what the caller left out, for Run and RunNow alike.
func (opts *Options) defaults() error {
	if opts.Authority == nil {
		return errors.New("schedule: Options.Authority is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Hooks == nil {
		opts.Hooks = NopHooks{}
	}
	return nil
}

// Drain is one step-down of this instance, as the scheduler sees it.
type Drain struct {
	Reason   string
	Deadline time.Time // when the instance goes; zero when unknown
}

// Run schedules the jobs of opts.File until ctx is done. It returns the
// ParseFile error (exit 65 or 78) when the file cannot be used at start.
// When ctx is done it stops scheduling, sends SIGTERM to the process group
// of every running job, SIGKILL after Grace to what is left, waits for
// them, and returns nil.
func Run(ctx context.Context, opts Options) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	if opts.Refresh == 0 {
		opts.Refresh = DefaultRefresh
	}
	c, err := opts.parse()
	if err != nil {
		return err
	}
	opts.Dir = JobDir(opts.Dir, opts.Logger)
	r := &runner{
		opts:    opts,
		log:     opts.Logger,
		clock:   opts.Clock,
		environ: os.Environ(),
		running: map[string]int{},
		jobs:    c.Jobs,
	}
	r.leaderCtx, r.stopLeader = context.WithCancelCause(ctx)
	// The first election, at start: a configuration that no retry fixes
	// (no permission, no group tag, an unusable state dir) stops the
	// scheduler now, so systemd shows it failed rather than active and
	// useless; a temporary failure is retried by the refresh and each job.
	firstSeq := r.asked.Add(1)
	first, err := opts.Authority.MayRun(ctx, gate.Job{Name: "(start)", Tick: r.clock.Now()})
	if err != nil && ctx.Err() == nil && exitcode.Of(err) == exitcode.Config {
		r.stopLeader(nil)
		return err
	}
	r.log.Info("schedule loaded", "file", opts.File, "jobs", len(c.Jobs))
	opts.Hooks.Loaded(c.Jobs)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.refresh(ctx, firstSeq, first, err)
	}()
	if opts.Drains != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.drains(ctx)
		}()
	}
	r.orphans(ctx, c.Jobs)
	r.catchUp(ctx, c.Jobs)
	r.lookForMissed(ctx, c.Jobs, r.clock.Now())
	r.loop(ctx, c)
	r.stop()
	return nil
}

type runner struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	environ []string
	wg      sync.WaitGroup // refresh and job goroutines

	mu          sync.Mutex
	running     map[string]int // job name → runs in progress
	jobs        []Job          // the schedule's jobs, for a catch-up on becoming leader
	lastAuthErr string         // the configuration error last logged
	// asked numbers the Authority's answers in the order they were asked,
	// and lastAuthSeq is the number of the answer lastAuthErr reflects: an
	// election asked before an error appeared that answers after it must
	// not say the check works again.
	asked       atomic.Uint64
	lastAuthSeq uint64
	// leader-only runs in progress, and the context they run in: a drain
	// cancels it (then replaces it, for runs after an undrain).
	leaderRuns int
	leaderCtx  context.Context
	stopLeader context.CancelCauseFunc
	controls   controlView     // the controls of the tick batch in progress
	unrecorded unrecordedTicks // ticks not run, to record when the ledger answers
}

// ErrDrained is the context cause of a leader-only run stopped by a drain's
// deadline (context.Cause of its context), so a tick ledger can record it
// as stopped by a drain rather than failed.
var ErrDrained = errors.New("stopped by a drain")

type entry struct {
	job  Job
	next time.Time // nominal time of the next run; zero: never
}

func plan(jobs []Job, after time.Time, h Hooks) []entry {
	es := make([]entry, len(jobs))
	for i, j := range jobs {
		es[i] = entry{job: j, next: j.Next(after)}
		h.Planned(j, es[i].next)
	}
	return es
}

// loop fires due jobs until ctx is done. cursor is the time up to which
// every tick has been handled: a reload plans the new jobs from it, so a
// tick that fell due while reloading still fires.
func (r *runner) loop(ctx context.Context, c *Crontab) {
	cursor := r.clock.Now()
	entries := plan(c.Jobs, cursor, r.opts.Hooks)
	var beat <-chan time.Time
	if r.opts.Heartbeat > 0 {
		t := time.NewTicker(r.opts.Heartbeat)
		defer t.Stop()
		beat = t.C
	}
	for {
		r.opts.Hooks.Alive()
		var wake <-chan time.Time
		if at, ok := earliest(entries); ok {
			if limit := r.clock.Now().Add(maxSleep); limit.Before(at) {
				at = limit
			}
			wake = clock.Until(r.clock, at)
		} else {
			wake = r.clock.After(maxSleep)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.opts.Reload:
			at := r.clock.Now() // new jobs start here: before the file is read
			if c, ok := r.reload(); ok {
				r.opts.Hooks.Loaded(c.Jobs)
				entries = replan(entries, c.Jobs, cursor, at, r.opts.Hooks)
			}
			continue
		case <-beat:
			continue
		case <-wake:
		}
		now := r.clock.Now()
		// Every-instance jobs obey no control: they start before the
		// controls are read, so a slow or hanging ledger (up to
		// controlTimeout) never makes them late.
		r.fire(ctx, entries, now, true)
		r.controlBatch(ctx, now, entries)
		r.fire(ctx, entries, now, false)
		cursor = now
	}
}

// fire starts the entries due at now whose job runs on every instance
// (everyInstance) or on the leader only (!everyInstance), and plans their
// next tick.
func (r *runner) fire(ctx context.Context, entries []entry, now time.Time, everyInstance bool) {
	for i := range entries {
		e := &entries[i]
		if e.job.EveryInstance != everyInstance || e.next.IsZero() || e.next.After(now) {
			continue
		}
		tick := e.next
		if late := now.Sub(tick); late > maxLateness {
			r.log.Warn("job skipped: missed its time (the scheduler was stopped or the clock jumped)",
				"job", e.job.Name, "scheduled_at", tick.In(e.job.TZ).Format(time.RFC3339), "lateness", late)
		} else if !r.skipPaused(ctx, e.job, tick) {
			r.start(ctx, e.job, tick, due)
		}
		// Next from the tick keeps @every from drifting; from now when
		// behind, so that missed ticks are not fired in a burst.
		next := e.job.Next(tick)
		if !next.IsZero() && !next.After(now) {
			next = e.job.Next(now)
		}
		e.next = next
		r.opts.Hooks.Planned(e.job, next)
	}
}

func earliest(es []entry) (time.Time, bool) {
	var at time.Time
	for _, e := range es {
		if !e.next.IsZero() && (at.IsZero() || e.next.Before(at)) {
			at = e.next
		}
	}
	return at, !at.IsZero()
}

// reload re-reads the file; a bad one is reported, line by line, and
// ignored.
func (r *runner) reload() (*Crontab, bool) {
	c, err := r.opts.parse()
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			for _, l := range pe.Lines {
				r.log.Error("reload failed, keeping the old schedule", "file", r.opts.File, "error", l.Error())
			}
		} else {
			r.log.Error("reload failed, keeping the old schedule", "file", r.opts.File, "error", err)
		}
		return nil, false
	}
	r.log.Info("schedule reloaded", "file", r.opts.File, "jobs", len(c.Jobs))
	r.mu.Lock()
	r.jobs = c.Jobs
	r.mu.Unlock()
	return c, true
}

// trigger is why a run starts.
type trigger int

const (
	due       trigger = iota // its tick has come
	missed                   // catch-up runs a tick missed while no scheduler ran
	recovered                // a run recorded running elsewhere, found at start: rerun or record it lost
	requested                // an operator's trigger, rerun or backfill (tickRun.req)
)

func (r *runner) start(ctx context.Context, j Job, tick time.Time, why trigger) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.runOnce(ctx, j, tick, why)
	}()
}

// claim marks a run of name as in progress; false when one already is and
// overlap is not allowed.
func (r *runner) claim(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[name] > 0 && !r.opts.AllowOverlap {
		return false
	}
	r.running[name]++
	return true
}

func (r *runner) release(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[name]--; r.running[name] <= 0 {
		delete(r.running, name)
	}
}

// tickRun is one tick of one job on its way through the scheduler: what
// runOnce decided, for its attempts.
type tickRun struct {
	job  Job
	tick time.Time
	at   string // the tick as written in the crontab: in the job's zone
	log  *slog.Logger
	held gate.Held // the ledger's claim; nil without a ledger
	free func()    // gives the overlap slot back, once
	// ctx is the scheduler's (shutdown); jobCtx the run's: also a drain's
	// deadline, the claim's loss and, per attempt, "# timeout:".
	ctx, jobCtx context.Context
	req         *Request // the operator's request it runs for, if any
}

func (r *runner) runOnce(ctx context.Context, j Job, tick time.Time, why trigger) {
	t := &tickRun{job: j, tick: tick, at: tick.In(j.TZ).Format(time.RFC3339), ctx: ctx}
	t.log = r.log.With("job", j.Name)
	var ok bool
	if !j.EveryInstance && r.opts.Ledger != nil {
		ok = r.takeTurn(t, why)
	} else {
		ok = r.mayRun(t)
	}
	defer t.free()
	if !ok {
		return
	}
	if ctx.Err() != nil {
		t.log.Debug("job skipped: shutting down", "scheduled_at", t.at)
		return
	}
	t.jobCtx = ctx
	if !j.EveryInstance {
		var done func()
		t.jobCtx, done = r.leaderRun()
		defer done()
	}
	r.attempts(t)
}

// takeTurn is runOnce's way in with a ledger: the ledger's turn decides
// (the jitter is waited for inside it, before the claim). With the ledger,
// waiting for the takeover delay is not running: the overlap slot is taken
// just before the claim is written.
func (r *runner) takeTurn(t *tickRun, why trigger) bool {
	var slot bool
	take := func() bool {
		slot = r.claim(t.job.Name)
		return slot
	}
	release := func() {
		if slot {
			r.release(t.job.Name)
			slot = false
		}
	}
	t.free = release
	if t.held = r.claimTick(t.ctx, t, why, gate.Slot{Take: take, Release: release}); t.held == nil {
		return false
	}
	if why == missed {
		r.opts.Hooks.CaughtUp(t.job, t.tick)
	}
	return true
}

// mayRun is runOnce's way in without a ledger: the overlap slot, the
// Authority for a leader-only job, then the job's jitter.
func (r *runner) mayRun(t *tickRun) bool {
	j, log, ctx := t.job, t.log, t.ctx
	if !r.claim(j.Name) {
		t.free = func() {}
		log.Warn("job skipped: its previous run is still running or waiting for its election", "scheduled_at", t.at)
		return false
	}
	// A skip gives the slot back before it is logged: the next tick, seen
	// right after the line, finds the job free.
	t.free = sync.OnceFunc(func() { r.release(j.Name) })
	if !j.EveryInstance {
		seq := r.asked.Add(1)
		p, err := r.opts.Authority.MayRun(ctx, gate.Job{Name: j.Name, Tick: t.tick})
		switch {
		case ctx.Err() != nil:
			t.free()
			log.Debug("job skipped: shutting down", "scheduled_at", t.at)
			return false
		case err != nil:
			// Fail closed: a job that cannot be cleared does not run.
			t.free()
			if exitcode.Of(err) == exitcode.Config {
				log.Debug("job skipped: cannot tell whether this instance is the leader", "scheduled_at", t.at, "error", err)
				r.authError(seq, err, "cannot tell whether this instance is the leader; leader-only jobs are skipped until it can")
			} else {
				log.Warn("job skipped: cannot tell whether this instance is the leader", "scheduled_at", t.at, "error", err)
			}
			return false
		case !p.Run:
			t.free()
			log.Debug("job skipped: not the leader", "scheduled_at", t.at, "reason", p.Reason)
			return false
		case p.Stale:
			log.Warn("job runs on a stale verdict", "scheduled_at", t.at, "note", p.Note)
		}
	}
	if !r.jitter(ctx, j) {
		t.free()
		log.Debug("job skipped: shutting down", "scheduled_at", t.at)
		return false
	}
	return true
}

// attempts runs the tick, again on failure for "# retry: N backoff D": on
// this instance and under the same tick. Under a ledger claim, all
// attempts run inside the one claim: it is held (its lease renewed) from
// the first attempt to the last, and only the last attempt's end is
// recorded.
func (r *runner) attempts(t *tickRun) {
	j := t.job
	finish := func(gate.End) error { return nil }
	if t.held != nil {
		t.jobCtx, finish = t.held.Hold(t.jobCtx, r.opts.Grace)
	}
	again := func(res Result, n int) bool {
		return n <= j.Retries && res.Failure() && res.Outcome != Stopped && t.jobCtx.Err() == nil
	}
	finished, last := false, gate.End{}
	defer func() {
		if !finished {
			_ = finish(last) // a stop between attempts: the claim is let go
		}
	}()
	for n := 1; ; n++ {
		res, ok := r.attempt(t, n, func(res Result) error {
			// Stopped by shutdown or a drain and not done (a job that still
			// exits 0 did its work): the claim is let go, not failed.
			if last = (gate.End{Code: res.Code, Stopped: res.Outcome == Stopped && res.Code != 0}); again(res, n) {
				return nil
			}
			finished = true
			t.free()
			if k, ok := t.held.(gate.TailKeeper); ok && res.Failure() {
				k.SetTail(res.Tail)
			}
			return finish(last)
		})
		if !ok || !again(res, n) {
			return
		}
		delay := retryDelay(j.RetryBackoff, n, randN)
		t.log.Warn("job will run again", "scheduled_at", t.at, "attempt", n+1, "of", j.Retries+1, "in", delay)
		select {
		case <-t.jobCtx.Done():
			last.Stopped = t.ctx.Err() != nil || errors.Is(context.Cause(t.jobCtx), ErrDrained)
			return
		case <-r.clock.After(delay):
		}
	}
}

// attempt runs the tick's job once, in t.jobCtx, and calls finish with its
// result; retry is false when the outcome was already handled (its ledger
// claim refused the end).
func (r *runner) attempt(t *tickRun, n int, finish func(Result) error) (res Result, retry bool) {
	j, ctx, jobCtx := t.job, t.ctx, t.jobCtx
	info := RunInfo{Job: j, Tick: t.tick, ID: newRunID(), Attempt: n}
	if t.held != nil {
		// The ledger's run id, the same in the job, the logs, the hooks
		// and the history.
		info.ID, info.Fence = t.held.RunID(), t.held.Fence()
	}
	log := t.log.With("run_id", info.ID)
	cmd := exec.Command(j.Shell, "-c", j.Command)
	cmd.Dir = r.opts.Dir
	cmd.Env = append(append(append(make([]string, 0, len(r.environ)+len(j.Env)+5), r.environ...), j.Env...), info.Env()...)
	stdout := newLineLogger(log, "stdout")
	stderr := newLineLogger(log, "stderr")
	tail := &gate.TailBuffer{}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(stdout, tail), io.MultiWriter(stderr, tail)
	cmd.WaitDelay = outputDrain

	if j.Timeout > 0 {
		// "# timeout:" is real time, like the run's duration.
		var cancel context.CancelFunc
		jobCtx, cancel = context.WithTimeoutCause(jobCtx, j.Timeout, errTimedOut)
		defer cancel()
	}

	info.Lateness = r.clock.Now().Sub(t.tick)
	log.Info("job started", "scheduled_at", t.at, "lateness", info.Lateness)
	r.opts.Hooks.Started(info)
	started := time.Now() // the run's duration is real time, whatever the clock
	code, err := gate.RunGroup(jobCtx, cmd, r.opts.Grace)
	stdout.Flush()
	stderr.Flush()
	dur := time.Since(started)
	res = Result{Outcome: outcome(ctx, jobCtx, code, err), Code: code, Err: err, Duration: dur, Tail: tail.Bytes()}
	defer r.opts.Hooks.Finished(info, res)
	if ferr := finish(res); ferr != nil {
		log.Error("job stopped or not recorded: its ledger claim", "exit_code", code, "duration", dur, "error", ferr)
		return res, false
	}
	logEnd(log, ctx, jobCtx, j, res)
	return res, true
}

// logEnd says how a run ended.
func logEnd(log *slog.Logger, ctx, jobCtx context.Context, j Job, res Result) {
	code, dur := res.Code, res.Duration
	switch {
	case res.Err != nil:
		log.Error("job could not start", "exit_code", code, "error", res.Err)
	case ctx.Err() != nil:
		log.Warn("job stopped by shutdown", "exit_code", code, "duration", dur)
	case errors.Is(context.Cause(jobCtx), ErrDrained):
		log.Warn("job stopped by a drain", "exit_code", code, "duration", dur)
	case errors.Is(context.Cause(jobCtx), errTimedOut):
		log.Error("job stopped: it ran longer than its # timeout (SIGTERM to its process group, SIGKILL after the grace period)",
			"timeout", j.Timeout, "exit_code", code, "duration", dur)
	case code != 0:
		log.Error("job failed", "exit_code", code, "duration", dur)
	default:
		log.Info("job finished", "exit_code", code, "duration", dur)
	}
}

// errTimedOut is the cause of a run's context when "# timeout:" ends it.
var errTimedOut = errors.New("the job's # timeout passed")

// leaderRun counts a leader-only run in progress until done is called and
// returns the context it runs in, which a drain's deadline cancels.
func (r *runner) leaderRun() (ctx context.Context, done func()) {
	r.mu.Lock()
	r.leaderRuns++
	n, ctx := r.leaderRuns, r.leaderCtx
	r.mu.Unlock()
	r.leaderJobs(n)
	return ctx, func() {
		r.mu.Lock()
		r.leaderRuns--
		n := r.leaderRuns
		r.mu.Unlock()
		r.leaderJobs(n)
	}
}

func (r *runner) leaderJobs(n int) {
	if r.opts.LeaderJobs != nil {
		r.opts.LeaderJobs(n)
	}
}

// drains stops the leader-only runs in progress when a drain's deadline
// leaves them no more than Grace.
func (r *runner) drains(ctx context.Context) {
	var stopAt <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-r.opts.Drains:
			r.log.Info("draining: no new leader-only run starts here", "reason", d.Reason, "deadline", d.Deadline)
			r.opts.Hooks.Drained()
			if !d.Deadline.IsZero() {
				stopAt = r.clock.After(d.Deadline.Add(-r.opts.Grace).Sub(r.clock.Now()))
			}
		case <-stopAt:
			stopAt = nil
			r.mu.Lock()
			n := r.leaderRuns
			r.stopLeader(ErrDrained)
			r.leaderCtx, r.stopLeader = context.WithCancelCause(ctx)
			r.mu.Unlock()
			if n > 0 {
				r.log.Warn("drain deadline near: sent SIGTERM to leader-only jobs", "running", n, "grace", r.opts.Grace)
			}
		}
	}
}

// refresh asks the Authority every Refresh, which keeps the election's tag
// and marker current, and logs leadership transitions.
func (r *runner) refresh(ctx context.Context, seq uint64, p gate.Permit, err error) {
	const (
		unknown = iota
		leader
		follower
	)
	state := unknown
	for {
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.authError(seq, err, "cannot tell whether this instance is the leader; leader-only jobs are skipped until it can")
		case p.Run && state != leader:
			if state == unknown {
				r.log.Info("this instance is the leader", "reason", p.Reason)
			} else {
				r.log.Info("became leader", "reason", p.Reason)
				// The ticks missed while no leader ran them: the catch-up
				// pass of the start, again (the ledger claims each tick,
				// so a tick already run is not run twice).
				r.mu.Lock()
				jobs := r.jobs
				r.mu.Unlock()
				r.catchUp(ctx, jobs)
			}
			state = leader
		case !p.Run && state != follower:
			if state == unknown {
				r.log.Info("this instance is a follower", "reason", p.Reason)
			} else {
				r.log.Info("lost leadership", "reason", p.Reason)
			}
			state = follower
		}
		if err == nil {
			r.authError(seq, nil, "")
			if p.Stale {
				r.log.Warn("leadership is from a stale verdict", "note", p.Note)
			}
		}
		if r.opts.Refresh < 0 {
			return
		}
		r.opts.Hooks.Leadership(err == nil && p.Run, err)
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(r.opts.Refresh):
		}
		seq = r.asked.Add(1)
		p, err = r.opts.Authority.MayRun(ctx, gate.Job{Name: "(refresh)", Tick: r.clock.Now()})
	}
}

// authError logs an election that failed. A configuration error (exit
// 78) is logged once at ERROR per distinct error, and once more when the
// check works again (err nil); other errors are warnings. seq is the
// number the answer was asked with (r.asked): answers are logged in the
// order they were asked, so a slow election asked before a newer error
// cannot log a false "works again".
func (r *runner) authError(seq uint64, err error, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq < r.lastAuthSeq {
		return
	}
	r.lastAuthSeq = seq
	if err == nil {
		if r.lastAuthErr != "" {
			r.log.Info("the leadership check works again")
		}
		r.lastAuthErr = ""
		return
	}
	if exitcode.Of(err) != exitcode.Config {
		r.log.Warn(msg, "error", err)
		return
	}
	if err.Error() == r.lastAuthErr {
		return
	}
	r.lastAuthErr = err.Error()
	r.log.Error(msg+"; this is a configuration error: fix it, no retry will", "error", err)
}

// stop waits for the refresh and every running job; their contexts are
// done, so gate.RunGroup is signalling their groups. The wait is bounded in
// case a job ignores everything short of a process it cannot reach.
func (r *runner) stop() {
	r.mu.Lock()
	n := 0
	for _, c := range r.running {
		n += c
	}
	r.mu.Unlock()
	if n > 0 {
		r.log.Info("stopping: sent SIGTERM to running jobs", "running", n, "grace", r.opts.Grace)
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		r.unrecordedLeft()
		r.log.Info("scheduler stopped")
	case <-time.After(r.opts.Grace + stopSlack):
		r.log.Error("scheduler stopped with jobs still running", "waited", r.opts.Grace+stopSlack)
	}
}

// NewRunID returns a new run id, as in LEADERGATE_RUN_ID.
func NewRunID() string { return newRunID() }

func newRunID() string { return gate.NewRunID() }

// parse reads opts.File, with every job named in opts.Namespace.
func (o Options) parse() (*Crontab, error) {
	c, err := ParseFile(o.File)
	if err != nil || o.Namespace == "" {
		return c, err
	}
	for i := range c.Jobs {
		c.Jobs[i].Name = o.Namespace + "/" + c.Jobs[i].Name
	}
	return c, nil
}
