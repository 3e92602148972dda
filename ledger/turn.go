package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// Turn is this instance's turn-taking at the ticks of its group's jobs, the
// one loop that `run --ledger` and `schedule --ledger` share (gate.Turn):
// wait for this instance's turn (the leader at the tick, others after the
// takeover delay; both after the job's jitter), claim the tick with one
// conditional write, or record it skipped when the previous run still runs
// here, and watch a holder's lease to record its run lost, or rerun it.
type Turn struct {
	Ledger   *Ledger // its Clock is the one the waits are measured on
	Group    string
	Takeover time.Duration // how long after the tick (and the jitter) the others claim
	// Rand draws the leader's jitter delay, below d; nil: math/rand/v2.
	Rand func(d time.Duration) time.Duration

	batch tickBatch // the followers' looks, one per tick (followerLook)
}

var _ gate.Turn = (*Turn)(nil)

func (t *Turn) clock() clock.Clock { return clock.Or(t.Ledger.Clock) }

func (t *Turn) key(j gate.Job) (Key, error) {
	k := Key{Group: t.Group, Job: j.Name, Tick: j.Tick}
	if err := k.Check(); err != nil {
		return k, &Error{Code: exitcode.Config, Err: err}
	}
	return k, nil
}

// At is when this instance claims req's tick.
func (t *Turn) At(req gate.TurnRequest) time.Time {
	var delay time.Duration
	if req.Leader && req.Jitter > 0 {
		if t.Rand != nil {
			delay = t.Rand(req.Jitter)
		} else {
			delay = rand.N(req.Jitter)
		}
	}
	return ClaimAt(req.Job.Tick, req.Leader, t.Takeover, req.Jitter, delay)
}

func (t *Turn) sleepUntil(ctx context.Context, at time.Time) error {
	if !at.After(t.Ledger.Now()) {
		return nil
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-clock.Until(t.clock(), at):
	}
	return nil
}

// call runs one ledger call under the ledger's Timeout, and tries it again
// while it fails for a reason that may pass (75) and the Timeout from the
// first attempt has not run out: a claim whose answer was lost is found,
// on the second attempt, to be this claim's own (ClaimOptions.Token).
func (t *Turn) call(ctx context.Context, f func(context.Context) (Claim, error)) (Claim, error) {
	budget := t.Ledger.timeout()
	deadline := t.Ledger.Now().Add(budget)
	pause := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeoutCause(ctx, max(deadline.Sub(t.Ledger.Now()), time.Millisecond),
			fmt.Errorf("no answer from the ledger within %s", budget))
		c, err := f(cctx)
		cancel()
		if err == nil || ctx.Err() != nil || elect.CannotTell(err) != exitcode.TempFail || t.Ledger.Now().Add(pause).After(deadline) {
			return c, err
		}
		t.Ledger.log().Warn("ledger call failed; trying again", "err", err)
		select {
		case <-ctx.Done():
			return c, err
		case <-t.clock().After(pause):
		}
		pause *= 2
	}
}

// Take implements gate.Turn. A tick found running elsewhere is watched: to
// its end for a job that may rerun a lost run (whoever sees its lease run
// out reruns it), else once, at the end of its lease, to record it lost if
// its instance died.
//
// Its Result is won only for the leader's own claim; a claim after the
// takeover delay or a rerun is taken_over; a tick once seen someone else's
// stays taken_elsewhere, however the watch ends.
func (t *Turn) Take(ctx context.Context, req gate.TurnRequest) (gate.Claim, error) {
	k, err := t.key(req.Job)
	if err != nil {
		return gate.Claim{}, err
	}
	return t.take(ctx, req, k)
}

// take is Take on the key k (a tick's, or a triggered run's).
func (t *Turn) take(ctx context.Context, req gate.TurnRequest, k Key) (gate.Claim, error) {
	if !req.Recover {
		if err := t.sleepUntil(ctx, t.At(req)); err != nil {
			return gate.Claim{}, err
		}
	}
	token := NewToken() // one per turn: its retries recognise its own write
	look, watched := !req.Leader || req.Recover, req.Recover
	var seen string // ClaimTakenElsewhere once the tick was found someone else's
	if look && !watched {
		switch done, h, claim, running, err := t.followerLook(ctx, k, req.Watch); {
		case err != nil:
			return gate.Claim{}, err
		case done:
			return gate.Claim{Result: gate.ClaimTakenElsewhere, Why: takenBy(k, h)}, nil
		case claim:
			look = false
		case running != nil: // watched as below, from its lease
			seen = gate.ClaimTakenElsewhere
			if err := t.sleepUntil(ctx, running.LeaseUntil.Add(time.Second)); err != nil {
				return gate.Claim{Result: seen, Why: takenBy(k, running)}, nil
			}
			watched = true
		}
	}
	for {
		// A watch of a run that may not be rerun only records it lost: it
		// never runs here, so it needs no slot (the job's next tick may
		// hold it by then) and never creates a record.
		markOnly := watched && !req.RerunLost
		if !markOnly && !req.Slot.TryTake() {
			if watched {
				return gate.Claim{Result: seen, Busy: true, Why: "its previous run still runs here"}, nil
			}
			return t.skip(ctx, k, look, token)
		}
		opts := ClaimOptions{Look: look, Rerun: req.RerunLost, Watch: watched, Token: token}
		cl, err := t.call(ctx, func(c context.Context) (Claim, error) { return t.Ledger.Claim(c, k, opts) })
		if !markOnly && (err != nil || cl.Outcome != Won) {
			req.Slot.Give()
		}
		if err != nil {
			return gate.Claim{}, err
		}
		switch cl.Outcome {
		case Won:
			rec := cl.Run.Record()
			c := gate.Claim{Held: cl.Run, Result: gate.ClaimWon, Why: fmt.Sprintf("claimed %s (fence %d)", k, rec.Fence)}
			if !req.Leader || watched {
				c.Result = gate.ClaimTakenOver
			}
			if lost := cl.Run.Rerun; lost != nil {
				t.Ledger.log().Warn("rerunning a run lost with its instance (on-lost: rerun)", "job", k.Job, "tick", k.TickString(),
					"lost_on", lost.Owner, "attempt", rec.Attempt, "fence", rec.Fence)
				c.Result, c.Lost = gate.ClaimTakenOver, &gate.LostRun{RunID: lost.RunID(), Attempt: lost.Attempt, Owner: lost.Owner}
				c.Why = fmt.Sprintf("reran %s (fence %d): attempt %d on %s was lost with its instance", k, rec.Fence, lost.Attempt, lost.Owner)
			}
			return c, nil
		case LostFound:
			h := cl.Holder
			t.Ledger.log().Error("run lost with its instance: recorded lost, not rerun (add # on-lost: rerun if it may run twice)",
				"job", k.Job, "tick", k.TickString(), "instance", h.Owner, "attempt", h.Attempt)
			return gate.Claim{Result: gate.ClaimTakenElsewhere, Lost: &gate.LostRun{RunID: h.RunID(), Attempt: h.Attempt, Owner: h.Owner},
				Why: fmt.Sprintf("%s was lost on %s (lease ended while running); recorded lost", k, h.Owner)}, nil
		}
		seen = gate.ClaimTakenElsewhere
		h := cl.Holder
		if h == nil || h.State != Running || !req.Watch && !req.Recover || watched && !req.RerunLost {
			return gate.Claim{Result: seen, Why: takenBy(k, h)}, nil
		}
		// Watch the holder's lease: it renews while it lives, and stops its
		// job before the lease ends when it cannot. A job that may rerun is
		// watched to its end; any other once, at the end of the lease seen
		// (one more read, only for jobs still running after the takeover
		// delay), to record it lost if its instance died early. The second
		// of margin covers the clocks' disagreement.
		if err := t.sleepUntil(ctx, h.LeaseUntil.Add(time.Second)); err != nil {
			return gate.Claim{Result: seen, Why: takenBy(k, h)}, nil
		}
		look, watched = true, true
	}
}

// skip records the tick skipped: the previous run still runs here.
func (t *Turn) skip(ctx context.Context, k Key, look bool, token string) (gate.Claim, error) {
	why := "overlap: the previous run still runs on " + t.Ledger.Owner
	cl, err := t.call(ctx, func(c context.Context) (Claim, error) {
		return t.Ledger.Skip(c, k, why, ClaimOptions{Look: look, Token: token})
	})
	if err != nil {
		return gate.Claim{}, err
	}
	c := gate.Claim{Busy: true, Why: "its previous run still runs here; " + k.String() + " is recorded skipped", Skipped: why}
	if h := cl.Holder; h != nil && h.Token != token {
		c.Why, c.Skipped = "its previous run still runs here; "+takenBy(k, h), ""
	}
	return c, nil
}

// Look implements gate.Turn: one read, no write.
func (t *Turn) Look(ctx context.Context, req gate.TurnRequest) (gate.Claim, error) {
	k, err := t.key(req.Job)
	if err != nil {
		return gate.Claim{}, err
	}
	cl, err := t.call(ctx, func(c context.Context) (Claim, error) {
		return t.Ledger.Look(c, k, ClaimOptions{Rerun: req.RerunLost})
	})
	if err != nil {
		return gate.Claim{}, err
	}
	at := ""
	if claimAt := ClaimAt(req.Job.Tick, req.Leader, t.Takeover, req.Jitter, 0); claimAt.After(t.Ledger.Now()) {
		at = " at " + claimAt.UTC().Format(time.RFC3339) + " unless another instance has by then"
	}
	switch {
	case cl.Outcome == Won && cl.Holder != nil:
		return gate.Claim{Result: gate.ClaimTakenOver, Why: fmt.Sprintf("would rerun %s%s: its run on %s was lost (lease ended while running)", k, at, cl.Holder.Owner)}, nil
	case cl.Outcome == Won && req.Leader:
		return gate.Claim{Result: gate.ClaimWon, Why: "would claim " + k.String() + at}, nil
	case cl.Outcome == Won:
		return gate.Claim{Result: gate.ClaimTakenOver, Why: "would claim " + k.String() + at}, nil
	case cl.Outcome == LostFound:
		return gate.Claim{Result: gate.ClaimTakenElsewhere, Why: fmt.Sprintf("%s was lost on %s (lease ended while running); would record it lost, not rerun it (--on-lost rerun allows it)", k, cl.Holder.Owner)}, nil
	}
	return gate.Claim{Result: gate.ClaimTakenElsewhere, Why: takenBy(k, cl.Holder)}, nil
}

func takenBy(k Key, h *Record) string {
	switch {
	case h == nil:
		return k.String() + " is taken by another instance"
	case h.State == Skipped:
		return k.String() + " was skipped by " + h.Owner + " (" + h.Reason + ")"
	}
	return k.String() + " is taken by " + h.Owner + " (" + string(h.State) + ")"
}

// CatchUp returns the one tick of job to run late, if any (see the
// package's CatchUp), with one Query for the job's newest record.
func (t *Turn) CatchUp(ctx context.Context, job string, next func(time.Time) time.Time, now time.Time, window time.Duration) (time.Time, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, t.Ledger.timeout())
	defer cancel()
	recs, err := t.Ledger.Store.Recent(cctx, t.Group, job, now.Add(-window), 1)
	if err != nil {
		return time.Time{}, false, err
	}
	var newest time.Time
	if len(recs) > 0 {
		newest = recs[0].Tick
	}
	tick, ok := CatchUp(next, now, window, newest)
	return tick, ok, nil
}

// OrphanWindow is how far back Orphans looks: a run started longer ago
// than this and lost is not rerun late.
const OrphanWindow = 24 * time.Hour

// Orphans lists the runs of jobs still recorded running whose tick is
// within OrphanWindow before now: at a scheduler's start (and when it
// becomes leader) each is taken with gate.TurnRequest.Recover, so that a
// run lost while no instance that saw its tick lived (a restart of the
// whole fleet, a replacement, a deploy's SIGTERM) is found by whoever looks
// next, and rerun for a job that may run twice. One Query per job, which
// the store filters to the runs recorded running (a day of a job every
// minute is 1,440 records; the group index holds keys only, and reading
// every record of the group would cost a read per record); nil jobs: the
// whole group, one Query of the index and a read of every record.
func (t *Turn) Orphans(ctx context.Context, jobs []string) ([]gate.Job, error) {
	cctx, cancel := context.WithTimeout(ctx, t.Ledger.timeout())
	defer cancel()
	now := t.Ledger.Now()
	var recs []Record
	rs, ok := t.Ledger.Store.(runningStore)
	switch {
	case ok && jobs != nil:
		for _, j := range jobs {
			found, err := rs.Running(cctx, t.Group, j, now.Add(-OrphanWindow))
			if err != nil {
				return nil, err
			}
			recs = append(recs, found...)
		}
	default:
		var err error
		if recs, err = t.Ledger.Store.Recent(cctx, t.Group, "", now.Add(-OrphanWindow), 0); err != nil {
			return nil, err
		}
	}
	var out []gate.Job
	for _, r := range recs {
		if r.State == Running && r.Tick.Before(now) {
			out = append(out, gate.Job{Name: r.Job, Tick: r.Tick})
		}
	}
	return out, nil
}
