package schedule

import (
	"context"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// Ledger is the tick ledger as the scheduler uses it (Options.Ledger; nil
// runs without one, as before): ledger.Turn implements it. With it, every
// leader-only tick takes its turn through the same gate.Turn that `run
// --ledger` uses, so that it runs once fleet-wide: the election only says
// who tries first.
type Ledger interface {
	gate.Turn
	// CatchUp returns the one tick of job to run late, if any: the most
	// recent one of next within window before now that is later than the
	// job's newest record.
	CatchUp(ctx context.Context, job string, next func(time.Time) time.Time, now time.Time, window time.Duration) (tick time.Time, ok bool, err error)
	// Orphans lists the runs of jobs (the leader-only jobs' names)
	// recorded running, for a scheduler that starts (or becomes leader)
	// to record lost, or rerun, those whose instance is gone: nobody who
	// saw their tick may be alive.
	Orphans(ctx context.Context, jobs []string) ([]gate.Job, error)
}

// Results of a claim, the "result" label of the ticks claimed metric (see
// gate.ClaimWon).
const (
	ClaimWon            = gate.ClaimWon
	ClaimTakenOver      = gate.ClaimTakenOver
	ClaimTakenElsewhere = gate.ClaimTakenElsewhere
)

// claimTick asks the Authority who goes first and takes the tick's turn in
// the ledger: a failed election is no reason to skip with a ledger. It
// returns the claim to hold, or nil when the tick is not this instance's.
func (r *runner) claimTick(ctx context.Context, t *tickRun, why trigger, slot gate.Slot) gate.Held {
	j, log := t.job, t.log.With("scheduled_at", t.at)
	req := gate.TurnRequest{Job: gate.Job{Name: j.Name, Tick: t.tick}, RerunLost: j.RerunLost, Recover: why == recovered, Watch: true, Slot: slot}
	if why != recovered {
		p, err := r.opts.Authority.MayRun(ctx, req.Job)
		if err != nil {
			log.Warn("election failed; the ledger decides after the takeover delay", "error", err)
		}
		req.Leader, req.Jitter = err == nil && p.Run, j.Jitter
	}
	var c gate.Claim
	var err error
	if t.req != nil {
		c, err = r.opts.Controls.Take(ctx, *t.req, t.tick, req)
	} else {
		c, err = r.opts.Ledger.Take(ctx, req)
	}
	if err == nil {
		if l := c.Lost; l != nil {
			r.opts.Hooks.LostRun(RunInfo{Job: j, Tick: t.tick, ID: l.RunID, Attempt: l.Attempt})
		}
		if c.Result != "" {
			r.opts.Hooks.Claimed(j, t.tick, c.Result)
		}
		if c.Skipped != "" {
			r.opts.Hooks.Skipped(j, t.tick, c.Skipped)
		}
	}
	switch {
	case ctx.Err() != nil:
		log.Debug("job skipped: shutting down")
		return nil
	case err != nil:
		log.Error("job skipped: the ledger cannot be reached, nothing runs", "error", err)
		if why == due && t.req == nil {
			r.remember(j, t.tick, "not run: the ledger could not be reached at its tick ("+err.Error()+")")
		}
		return nil
	case c.Busy:
		log.Warn("job skipped: its previous run is still running", "ledger", c.Why)
	case c.Held == nil:
		log.Debug("job skipped: the tick is taken", "ledger", c.Why)
	}
	return c.Held
}

// catchUp runs, once and late, the tick each job with a catch-up window
// missed while no scheduler ran: at start, and on becoming leader.
func (r *runner) catchUp(ctx context.Context, jobs []Job) {
	if r.opts.Ledger == nil {
		return
	}
	now := r.clock.Now()
	for _, j := range jobs {
		if j.CatchUp <= 0 && r.opts.CatchUp <= 0 || j.EveryInstance {
			continue
		}
		if j.CatchUp <= 0 {
			j.CatchUp = r.opts.CatchUp
		}
		tick, ok, err := r.opts.Ledger.CatchUp(ctx, j.Name, j.Next, now, j.CatchUp)
		switch {
		case err != nil:
			r.log.Error("catch-up skipped: the ledger cannot be reached", "job", j.Name, "error", err)
		case ok:
			r.log.Warn("catching up a missed tick, once", "job", j.Name, "scheduled_at", tick.In(j.TZ).Format(time.RFC3339), "window", j.CatchUp)
			r.start(ctx, j, tick, missed)
		}
	}
}

// orphans takes up, at start, the group's runs recorded running at ticks
// before now: each is watched to the end of its lease and recorded lost,
// or rerun for "# on-lost: rerun", unless its instance still renews it.
// A scheduler that was running when their tick came watches them already;
// one that starts later has only this. One Query per leader-only job.
func (r *runner) orphans(ctx context.Context, jobs []Job) {
	if r.opts.Ledger == nil {
		return
	}
	var names []string
	for _, j := range jobs {
		if !j.EveryInstance {
			names = append(names, j.Name)
		}
	}
	if names == nil {
		return
	}
	found, err := r.opts.Ledger.Orphans(ctx, names)
	if err != nil {
		r.log.Error("the search for runs lost while no scheduler looked failed", "error", err)
		return
	}
	for _, o := range found {
		for _, j := range jobs {
			if j.Name == o.Name && !j.EveryInstance {
				r.log.Info("watching a run recorded running elsewhere", "job", j.Name, "scheduled_at", o.Tick.In(j.TZ).Format(time.RFC3339))
				r.start(ctx, j, o.Tick, recovered)
				break
			}
		}
	}
}
