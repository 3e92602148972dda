package schedule

import (
	"context"
	"time"
)

// Ledger is the tick ledger as the scheduler uses it (Options.Ledger; nil
// runs without one, as before). With it, every leader-only tick is claimed
// before it runs, so that it runs once fleet-wide: the election only says
// who tries first.
type Ledger interface {
	// Claim waits for this instance's turn at tick (the tick itself on the
	// leader, the takeover delay after it elsewhere, leader being false
	// also when the election failed) and claims it. Its Claim has no Held
	// when the tick is not this instance's to run, and an error means the
	// ledger cannot be asked: the job must not run.
	// slot.Take is called just before the claim is written: when it says
	// no (the previous run still runs here), nothing is written; a slot
	// taken for a claim that is not won is given back with slot.Release.
	Claim(ctx context.Context, job Job, tick time.Time, leader bool, slot Slot) (Claim, error)
	// CatchUp returns the one tick of job to run late, if any: the most
	// recent one within job.CatchUp before now that is later than the
	// job's newest record.
	CatchUp(ctx context.Context, job Job, now time.Time) (tick time.Time, ok bool, err error)
}

// Results of a claim (Claim.Result), the "result" label of the ticks
// claimed metric.
const (
	// ClaimWon: the leader claimed the tick, at the tick.
	ClaimWon = "won"
	// ClaimTakenOver: this instance claimed a tick it was not first to
	// claim: as a follower (or with its election failed) after the
	// takeover delay, the leader not having claimed it, or to rerun a run
	// lost with its instance ("# on-lost: rerun").
	ClaimTakenOver = "taken_over"
	// ClaimTakenElsewhere: another instance holds or held the tick (a run
	// of it found lost and recorded lost included).
	ClaimTakenElsewhere = "taken_elsewhere"
)

// Claim is the ledger's answer for one tick.
type Claim struct {
	// Held is the claimed tick, for this instance to run; nil: it is not.
	Held Held
	// Result is ClaimWon or ClaimTakenOver with Held, ClaimTakenElsewhere
	// without; empty when the ledger decided nothing (shutdown, or the
	// previous run still runs here).
	Result string
	// Lost is the tick's run that this instance found lost with its
	// instance (its lease ran out) and recorded lost, or reran: its run id
	// and attempt (claimTick fills in the job and tick).
	Lost *RunInfo
}

// Slot is this instance's overlap guard for one job.
type Slot struct {
	Take    func() bool
	Release func()
}

// Held is a claimed tick.
type Held interface {
	// Env is what the job sees besides its environment
	// (LEADERGATE_RUN_ID, LEADERGATE_FENCE, ...).
	Env() []string
	// Hold keeps the claim while the job runs. held is cancelled when the
	// claim is lost, which stops the job's process group; finish records
	// the exit.
	Hold(ctx context.Context) (held context.Context, finish func(exit int) error)
}

// TailKeeper is a Held that keeps the end of a failed run's output in the
// ledger, for history: the scheduler gives it the run's Result.Tail just
// before finish.
type TailKeeper interface {
	SetTail(out []byte)
}

// claimTick consults the ledger for a leader-only tick, after the
// Authority: a failed election is no reason to skip with a ledger.
func (r *runner) claimTick(ctx context.Context, j Job, tick time.Time, leader bool, electionErr error, slot Slot) Held {
	log := r.log.With("job", j.Name, "scheduled_at", tick.In(j.TZ).Format(time.RFC3339))
	if electionErr != nil {
		log.Warn("election failed; the ledger decides after the takeover delay", "error", electionErr)
	}
	c, err := r.opts.Ledger.Claim(ctx, j, tick, leader, slot)
	if err == nil {
		if c.Lost != nil {
			lost := *c.Lost
			lost.Job, lost.Tick = j, tick
			r.opts.Hooks.LostRun(lost)
		}
		if c.Result != "" {
			r.opts.Hooks.Claimed(j, tick, c.Result)
		}
	}
	switch {
	case ctx.Err() != nil:
		log.Debug("job skipped: shutting down")
		return nil
	case err != nil:
		log.Error("job skipped: the ledger cannot be reached, nothing runs", "error", err)
		return nil
	case c.Held == nil:
		log.Debug("job skipped: the tick is taken")
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
		tick, ok, err := r.opts.Ledger.CatchUp(ctx, j, now)
		switch {
		case err != nil:
			r.log.Error("catch-up skipped: the ledger cannot be reached", "job", j.Name, "error", err)
		case ok:
			r.log.Warn("catching up a missed tick, once", "job", j.Name, "scheduled_at", tick.In(j.TZ).Format(time.RFC3339), "window", j.CatchUp)
			r.start(ctx, j, tick, missed)
		}
	}
}
