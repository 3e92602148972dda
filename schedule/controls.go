package schedule

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// Controls are the fleet's controls as the scheduler obeys them
// (Options.Controls; nil: none): an operator's pause, resume, trigger,
// rerun and backfill, kept in the tick ledger (docs/controls.md). The
// scheduler reads them once per tick batch, not once per job.
type Controls interface {
	// Read reads the group's controls: one call, for one tick batch.
	Read(ctx context.Context) (ControlView, error)
	// Note records job's tick as not run, missed (nobody ran it) or else
	// skipped with reason, unless it has a record: won is false when
	// someone ran, claimed or recorded it first. The winner reports it.
	Note(ctx context.Context, job string, tick time.Time, missed bool, reason string) (won bool, err error)
	// Settled is how long after a tick its record is written if any
	// scheduler was alive to write it (the takeover delay and jitter).
	Settled(jitter time.Duration) time.Duration
	// Missed lists job's ticks at or before until that nobody ran and
	// nobody recorded a reason for (after its newest recorded tick), at
	// most a few, the newest; more counts the others.
	Missed(ctx context.Context, job string, next func(time.Time) time.Time, until time.Time) (ticks []time.Time, more int, err error)
	// Take claims the run that q asks for at tick, as the ledger's turn
	// claims a tick (see gate.Turn): the leader at once, the others the
	// takeover delay after q.Seen.
	Take(ctx context.Context, q Request, tick time.Time, turn gate.TurnRequest) (gate.Claim, error)
}

// ControlView is the group's controls as read for one tick batch.
type ControlView interface {
	// Paused says whether a pause covers job's tick, and whose it is.
	Paused(job string, tick time.Time) (who string, ok bool)
	// Requests are the triggers, reruns and backfills to take up at now,
	// oldest first.
	Requests(now time.Time) []Request
}

// Request is an operator's trigger, rerun or backfill: runs of Job at
// Ticks (a trigger: one, its own), oldest first, one at a time.
type Request struct {
	ID, Kind, Job string
	Actor         string
	Ticks         []time.Time
	// Seen is when this scheduler first read it: the others than the
	// leader take it the takeover delay after.
	Seen time.Time
}

// controlView is the view of the batch in progress, shared by its runs,
// and the requests taken up here (by id).
type controlView struct {
	mu    sync.Mutex
	view  ControlView
	err   error
	read  time.Time
	taken map[string]bool
}

// controlPoll is how often the controls are read when no leader-only
// tick is due (a trigger must not wait for the next tick of an hourly
// job); the loop wakes at least this often anyway.
const controlPoll = maxSleep

// controlBatch reads the controls once for the tick batch at now, when a
// leader-only job is due, or controlPoll after the last read.
func (r *runner) controlBatch(ctx context.Context, now time.Time, es []entry) {
	if r.opts.Controls == nil {
		return
	}
	due := false
	for _, e := range es {
		due = due || !e.job.EveryInstance && !e.next.IsZero() && !e.next.After(now)
	}
	cv := &r.controls
	cv.mu.Lock()
	stale := now.Sub(cv.read) >= controlPoll
	cv.mu.Unlock()
	if !due && !stale {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, controlTimeout)
	view, err := r.opts.Controls.Read(rctx)
	cancel()
	cv.mu.Lock()
	was := cv.err
	cv.view, cv.err, cv.read = view, err, now
	cv.mu.Unlock()
	switch {
	case err != nil && ctx.Err() == nil:
		// Once per change of the error, not once per batch: each skipped
		// tick says so at WARN.
		if was == nil || was.Error() != err.Error() {
			r.log.Error("the controls cannot be read: leader-only jobs are skipped until they can (a paused job must not run)", "error", err)
		}
		return
	case err == nil && was != nil:
		r.log.Info("the controls can be read again: leader-only jobs run")
	}
	r.recordUnrecorded(ctx, view)
	r.takeUp(ctx, view, now)
}

// takeUp starts, once per scheduler, each request not taken up yet: its
// runs, one at a time, through the same claim as ticks.
func (r *runner) takeUp(ctx context.Context, view ControlView, now time.Time) {
	cv := &r.controls
	for _, q := range view.Requests(now) {
		cv.mu.Lock()
		old := cv.taken[q.ID]
		if cv.taken == nil {
			cv.taken = map[string]bool{}
		}
		cv.taken[q.ID] = true
		cv.mu.Unlock()
		if old {
			continue
		}
		r.mu.Lock()
		jobs := r.jobs
		r.mu.Unlock()
		i := slices.IndexFunc(jobs, func(j Job) bool { return j.Name == q.Job })
		switch {
		case i < 0:
			r.log.Warn("a "+q.Kind+" asks for a job this schedule does not have: not taken up here", "job", q.Job, "by", q.Actor, "request", q.ID)
			continue
		case jobs[i].EveryInstance:
			r.log.Warn("a "+q.Kind+" asks for a job that runs on every instance: the ledger keeps leader-only jobs", "job", q.Job, "request", q.ID)
			continue
		}
		q.Seen = now
		r.log.Info("taking up a "+q.Kind, "job", q.Job, "by", q.Actor, "request", q.ID, "ticks", len(q.Ticks))
		r.wg.Add(1)
		go func(j Job, q Request) {
			defer r.wg.Done()
			for _, tick := range q.Ticks {
				if ctx.Err() != nil {
					return
				}
				r.runRequest(ctx, j, tick, &q)
			}
		}(jobs[i], q)
	}
}

// runRequest is runOnce for one run a request asks for: its claim goes
// through Controls.Take (claimTick), the rest as for a tick.
func (r *runner) runRequest(ctx context.Context, j Job, tick time.Time, q *Request) {
	t := &tickRun{job: j, tick: tick, at: tick.In(j.TZ).Format(time.RFC3339), ctx: ctx, req: q}
	t.log = r.log.With("job", j.Name, "request", q.Kind+" "+q.ID)
	ok := r.takeTurn(t, requested)
	defer t.free()
	if !ok || ctx.Err() != nil {
		return
	}
	var done func()
	t.jobCtx, done = r.leaderRun()
	defer done()
	r.attempts(t)
}

// controlTimeout bounds one read or write of the controls.
const controlTimeout = 10 * time.Second

// skipPaused reports whether the controls keep j's tick from starting:
// it is paused (the leader records it skipped, the others skip it
// silently), or the controls could not be read for this batch: fail
// closed, since a pause is set when running the job does harm.
func (r *runner) skipPaused(ctx context.Context, j Job, tick time.Time) bool {
	if r.opts.Controls == nil || j.EveryInstance {
		return false
	}
	cv := &r.controls
	cv.mu.Lock()
	view, err := cv.view, cv.err
	cv.mu.Unlock()
	at := tick.In(j.TZ).Format(time.RFC3339)
	switch {
	case err != nil:
		r.log.Warn("job skipped: the controls cannot be read (fail closed)", "job", j.Name, "scheduled_at", at)
		r.remember(j, tick, "not run: the controls could not be read at its tick, and a paused job must not run ("+err.Error()+")")
		return true
	case view == nil:
		return false
	}
	who, paused := view.Paused(j.Name, tick)
	if !paused {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		p, err := r.opts.Authority.MayRun(ctx, gate.Job{Name: j.Name, Tick: tick})
		if err != nil || !p.Run {
			r.log.Debug("job skipped: paused", "job", j.Name, "scheduled_at", at, "pause", who)
			return
		}
		// The leader records it, so that history says why and nobody
		// reports it missed; one conditional write.
		nctx, cancel := context.WithTimeout(ctx, controlTimeout)
		won, err := r.opts.Controls.Note(nctx, j.Name, tick, false, who)
		cancel()
		switch {
		case err != nil:
			r.log.Warn("job skipped: paused; the skip could not be recorded", "job", j.Name, "scheduled_at", at, "pause", who, "error", err)
		case won:
			r.log.Info("job skipped: paused", "job", j.Name, "scheduled_at", at, "pause", who)
			r.opts.Hooks.Skipped(j, tick, "paused")
		default:
			r.log.Debug("job skipped: paused (recorded elsewhere)", "job", j.Name, "scheduled_at", at)
		}
	}()
	return true
}

// lookForMissed finds, once the ticks before this scheduler's start have
// settled, each leader-only job's ticks that no instance ran and none
// recorded a reason for (every scheduler was down across them), records
// them missed (skipped, under a pause) and reports those it recorded:
// one ERROR line and Hooks.Missed, once fleet-wide. It runs in the
// background: the schedule's own ticks do not wait for it.
func (r *runner) lookForMissed(ctx context.Context, jobs []Job, started time.Time) {
	if r.opts.Controls == nil || r.opts.Ledger == nil {
		return
	}
	var jitter time.Duration
	for _, j := range jobs {
		jitter = max(jitter, j.Jitter)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case <-ctx.Done():
			return
		case <-r.clock.After(r.opts.Controls.Settled(jitter)):
		}
		rctx, cancel := context.WithTimeout(ctx, controlTimeout)
		view, err := r.opts.Controls.Read(rctx)
		cancel()
		if err != nil {
			r.log.Error("the look for ticks nobody ran failed: the controls cannot be read", "error", err)
			return
		}
		for _, j := range jobs {
			if !j.EveryInstance && ctx.Err() == nil {
				r.missedTicks(ctx, j, started, view)
			}
		}
	}()
}

func (r *runner) missedTicks(ctx context.Context, j Job, until time.Time, view ControlView) {
	mctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	ticks, more, err := r.opts.Controls.Missed(mctx, j.Name, j.Next, until)
	if err != nil {
		r.log.Error("the look for ticks nobody ran failed", "job", j.Name, "error", err)
		return
	}
	if more > 0 {
		r.log.Error("job missed more ticks than are recorded one by one: no instance ran them (every scheduler was down)",
			"job", j.Name, "missed", more, "before", ticks[0].In(j.TZ).Format(time.RFC3339))
	}
	for _, tick := range ticks {
		at := tick.In(j.TZ).Format(time.RFC3339)
		who, paused := view.Paused(j.Name, tick)
		reason := "no instance ran it and none recorded why"
		if paused {
			reason = who
		}
		won, err := r.opts.Controls.Note(mctx, j.Name, tick, !paused, reason)
		switch {
		case err != nil:
			r.log.Error("a tick nobody ran could not be recorded", "job", j.Name, "scheduled_at", at, "error", err)
		case !won:
		case paused:
			r.log.Info("job skipped: paused (found at start)", "job", j.Name, "scheduled_at", at, "pause", who)
			r.opts.Hooks.Skipped(j, tick, "paused")
		default:
			r.log.Error("job missed: no instance ran it and none recorded why (every scheduler was down across it)", "job", j.Name, "scheduled_at", at)
			r.opts.Hooks.Missed(j, tick)
		}
	}
}
