package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// Controller is the fleet's controls as one scheduler obeys them: it reads
// the group's controls once per tick batch, records the ticks a pause
// skips and the ticks nobody ran, and claims the runs that triggers,
// reruns and backfills ask for.
type Controller struct {
	Ledger   *Ledger
	Group    string
	Takeover time.Duration // how long after its tick a follower claims: no tick is missed before
}

// Read reads the group's controls with one consistent Query.
func (c *Controller) Read(ctx context.Context) (ControlSet, error) {
	cs, ok := c.Ledger.Store.(ControlStore)
	if !ok {
		return ControlSet{}, nil
	}
	items, err := cs.Controls(ctx, c.Group)
	return ControlSet{Items: items}, err
}

// missedMargin is how long after a follower's turn (the takeover delay
// and the jitter) a tick with no record counts as missed: the follower's
// claim takes a moment to be written.
const missedMargin = 5 * time.Second

// Settled is how long after a tick its record is written if any scheduler
// was alive to write it: a tick before a scheduler's start, still without
// a record that long after the start, was missed by the whole fleet.
func (c *Controller) Settled(jitter time.Duration) time.Duration {
	return c.Takeover + jitter + missedMargin
}

// Missed returns the ticks of job after its newest recorded tick (within
// window before until) and at or before until that have no record: nobody
// ran them and nobody recorded why. At most limit, the newest; more counts
// the others. One Query.
func (c *Controller) Missed(ctx context.Context, job string, next func(time.Time) time.Time, until time.Time, window time.Duration, limit int) (ticks []time.Time, more int, err error) {
	newest, err := c.Ledger.NewestTick(ctx, c.Group, job, until.Add(-window), until)
	if err != nil {
		return nil, 0, err
	}
	ticks, more = Unrecorded(next, newest, until, limit)
	return ticks, more, nil
}

// Note records job's tick not run, Skipped or Missed, with why; won is
// false when it has a record already (someone ran, claimed or recorded
// it): the caller that wins reports it, once fleet-wide.
func (c *Controller) Note(ctx context.Context, job string, tick time.Time, state State, reason string) (bool, error) {
	return c.Ledger.Note(ctx, Key{Group: c.Group, Job: job, Tick: tick}, state, reason)
}

// TakeRequest claims the run that the request c asks for at tick (a
// trigger's own run key, a rerun's tick, one of a backfill's), as Take
// claims a tick: the leader at once, the others Takeover after seen (when
// this instance first saw the request), so that the leader runs it and
// another instance does when the leader is gone. A trigger's run is a
// tick of its own (its key's Ref): it is claimed, watched, recorded lost
// and rerun by the rules of ticks. A rerun or a backfill tick replaces an
// ended record (ClaimRequest); one taken elsewhere, or already served, is
// not this instance's to run.
func (t *Turn) TakeRequest(ctx context.Context, c Control, tick, seen time.Time, req gate.TurnRequest) (gate.Claim, error) {
	if err := t.sleepUntil(ctx, ClaimAt(seen, req.Leader, t.Takeover, 0, 0)); err != nil {
		return gate.Claim{}, err
	}
	if c.Kind == TriggerControl {
		k := c.RunKey()
		if err := k.Check(); err != nil {
			return gate.Claim{}, &Error{Code: exitcode.Config, Err: err}
		}
		req.Job.Tick, req.Jitter, req.Recover = k.Tick, 0, false
		return t.take(ctx, req, k)
	}
	k := Key{Group: c.Group, Job: c.Job, Tick: tick.UTC().Truncate(time.Second)}
	token := NewToken() // its retries recognise its own write
	for {
		if !req.Slot.TryTake() {
			return gate.Claim{Busy: true, Why: "its previous run still runs here; the " + string(c.Kind) + " of " + k.String() + " is not run here"}, nil
		}
		cl, err := t.call(ctx, func(cc context.Context) (Claim, error) { return t.Ledger.ClaimRequest(cc, c, tick, token) })
		if err != nil || cl.Outcome != Won {
			req.Slot.Give()
		}
		switch {
		case err != nil:
			return gate.Claim{}, err
		case cl.Outcome == Won:
			res := gate.ClaimWon
			if !req.Leader {
				res = gate.ClaimTakenOver
			}
			rec := cl.Run.Record()
			return gate.Claim{Held: cl.Run, Result: res, Why: fmt.Sprintf("claimed %s for the %s by %s (attempt %d, fence %d)", k, c.Kind, orUnknown(c.Actor), rec.Attempt, rec.Fence)}, nil
		}
		// Another instance runs it for this request: wait for its end
		// (its lease, renewed while it lives), so that a backfill's next
		// tick starts after it, one at a time fleet-wide.
		h := cl.Holder
		if h == nil || h.Request != c.ID || h.AsOf(t.Ledger.Now()).State != Running {
			return gate.Claim{Result: gate.ClaimTakenElsewhere, Why: takenBy(k, h)}, nil
		}
		if err := t.sleepUntil(ctx, h.LeaseUntil.Add(time.Second)); err != nil {
			return gate.Claim{Result: gate.ClaimTakenElsewhere, Why: takenBy(k, h)}, nil
		}
	}
}
