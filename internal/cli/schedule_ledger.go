package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/ledger"
	"github.com/leadergate/leadergate/schedule"
)

// scheduleLedgerFlags are schedule's flags for the ledger (--ledger is global).
type scheduleLedgerFlags struct {
	TakeoverAfter time.Duration `env:"LEADERGATE_TAKEOVER_AFTER" default:"15s" placeholder:"D" help:"With --ledger: followers take an unclaimed tick this long after it."`
	Lease         time.Duration `env:"LEADERGATE_LEASE" default:"60s" placeholder:"D" help:"With --ledger: a claim's lease, renewed every third of it while the job runs."`
	CatchUp       time.Duration `env:"LEADERGATE_CATCH_UP" placeholder:"D" help:"With --ledger: at start, run once the most recent tick missed within D (per job: # catch-up: D)."`
}

// withLedger wires the ledger into the scheduler's options when --ledger is set.
func (c *scheduleCmd) withLedger(g *Globals, d *Deps, log *slog.Logger, opts *schedule.Options) error {
	if g.Ledger == "" {
		return nil
	}
	f := c.scheduleLedgerFlags
	if f.TakeoverAfter <= 0 || f.Lease <= 0 || f.CatchUp < 0 {
		return usageError{fmt.Errorf("schedule: --takeover-after and --lease must be positive, --catch-up not negative")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	who, err := g.whoLeads(d, log, time.Time{})
	if err != nil {
		return err
	}
	store, err := ledgerStore(ctx, g.Ledger, "", d, log, who.region)
	if err != nil {
		return err
	}
	// Everything the scheduler will need of the table, checked now: a
	// missing table, a wrong schema or a missing permission stops it with
	// 78 and the fix, rather than a healthy-looking start that logs an
	// error at every tick while nothing runs. An unreachable ledger is no
	// reason not to start: each tick retries it.
	if err := store.Preflight(ctx); exitcode.Of(err) == exitcode.Config {
		return err
	} else if err != nil {
		log.Warn("the ledger cannot be reached at start; each tick tries again, and nothing runs until it can", "table", g.Ledger, "error", err)
	}
	opts.Ledger = &scheduleLedger{
		l:        &ledger.Ledger{Store: store, Owner: who.self, Clock: d.Clock, Lease: f.Lease},
		group:    who.group,
		takeover: f.TakeoverAfter,
		timeout:  g.Timeout,
		log:      log,
	}
	opts.CatchUp = f.CatchUp
	log.Info("tick ledger on", "table", g.Ledger, "group", who.group, "instance", who.self, "takeover_after", f.TakeoverAfter, "lease", f.Lease)
	return nil
}

// scheduleLedger is schedule.Ledger on the DynamoDB ledger.
type scheduleLedger struct {
	l        *ledger.Ledger // its Clock is the scheduler's: the takeover delay and lease watches wait on it
	group    string
	takeover time.Duration
	timeout  time.Duration
	log      *slog.Logger
}

var _ schedule.Ledger = (*scheduleLedger)(nil)

func (s *scheduleLedger) sleepUntil(ctx context.Context, at time.Time) error {
	if d := at.Sub(s.l.Now()); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clock.Or(s.l.Clock).After(d):
		}
	}
	return nil
}

// Claim implements schedule.Ledger. A tick found running elsewhere is
// watched: to its end for a job marked "# on-lost: rerun" (whoever sees its
// lease run out reruns it), else once, at the end of its lease, to record
// it lost if its instance died.
//
// Its Result is won only for the leader's own claim at the tick; a claim
// after the takeover delay or a rerun is taken_over; a tick once seen
// someone else's stays taken_elsewhere, however the watch ends.
func (s *scheduleLedger) Claim(ctx context.Context, j schedule.Job, tick time.Time, leader bool, slot schedule.Slot) (schedule.Claim, error) {
	k := ledger.Key{Group: s.group, Job: j.Name, Tick: tick}
	if err := s.sleepUntil(ctx, ledger.ClaimAt(tick, leader, s.takeover)); err != nil {
		return schedule.Claim{}, nil
	}
	look, watched := !leader, false
	var seen string // ClaimTakenElsewhere once a claim found the tick someone else's
	for {
		// The watch of a run that may not be rerun only records it lost:
		// it never runs here, so it needs no slot (the job's next tick may
		// hold it by then) and never creates a record.
		markOnly := watched && !j.RerunLost
		if !markOnly && !slot.Take() {
			return schedule.Claim{Result: seen}, nil
		}
		cctx, cancel := context.WithTimeout(ctx, s.timeout)
		cl, err := s.l.Claim(cctx, k, ledger.ClaimOptions{Look: look, Rerun: j.RerunLost, Watch: markOnly})
		cancel()
		if !markOnly && (err != nil || cl.Outcome != ledger.Won) {
			slot.Release()
		}
		if err != nil {
			return schedule.Claim{}, err
		}
		switch cl.Outcome {
		case ledger.Won:
			c := schedule.Claim{Held: held{run: cl.Run, log: s.log}, Result: schedule.ClaimWon}
			if !leader {
				c.Result = schedule.ClaimTakenOver
			}
			if cl.Run.Rerun != nil {
				s.log.Warn("rerunning a run lost with its instance (# on-lost: rerun)", "job", j.Name, "tick", k.TickString(),
					"lost_on", cl.Run.Rerun.Owner, "attempt", cl.Run.Record().Attempt, "fence", cl.Run.Record().Fence)
				c.Result, c.Lost = schedule.ClaimTakenOver, &schedule.RunInfo{ID: cl.Run.Rerun.RunID(), Attempt: cl.Run.Rerun.Attempt}
			}
			return c, nil
		case ledger.LostFound:
			s.log.Error("run lost with its instance: recorded lost, not rerun (add # on-lost: rerun if it may run twice)",
				"job", j.Name, "tick", k.TickString(), "instance", cl.Holder.Owner, "attempt", cl.Holder.Attempt)
			return schedule.Claim{Result: schedule.ClaimTakenElsewhere, Lost: &schedule.RunInfo{ID: cl.Holder.RunID(), Attempt: cl.Holder.Attempt}}, nil
		}
		seen = schedule.ClaimTakenElsewhere
		h := cl.Holder
		if h == nil || h.State != ledger.Running || watched && !j.RerunLost {
			return schedule.Claim{Result: seen}, nil
		}
		// Watch the holder's lease: it renews while it lives. A job that may
		// rerun is watched to its end; any other once, at the end of the
		// lease seen (one more read, only for jobs still running after the
		// takeover delay), to record it lost if its instance died early.
		if err := s.sleepUntil(ctx, h.LeaseUntil.Add(time.Second)); err != nil {
			return schedule.Claim{Result: seen}, nil
		}
		look, watched = true, true
	}
}

// CatchUp implements schedule.Ledger with one Query for the job's newest record.
func (s *scheduleLedger) CatchUp(ctx context.Context, j schedule.Job, now time.Time) (time.Time, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	recs, err := s.l.Store.Recent(cctx, s.group, j.Name, now.Add(-j.CatchUp), 1)
	if err != nil {
		return time.Time{}, false, err
	}
	var newest time.Time
	if len(recs) > 0 {
		newest = recs[0].Tick
	}
	tick, ok := ledger.CatchUp(j.Next, now, j.CatchUp, newest)
	return tick, ok, nil
}

type held struct {
	run *ledger.Run
	log *slog.Logger
}

var _ schedule.TailKeeper = held{}

func (h held) Env() []string      { return h.run.Env() }
func (h held) SetTail(out []byte) { h.run.SetTail(out) }
func (h held) Hold(ctx context.Context) (context.Context, func(int) error) {
	return h.run.Hold(ctx, h.log)
}
