package ledger

import (
	"context"
	"time"
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
	newest, err := c.Ledger.NewestTick(ctx, c.Group, job, until.Add(-window))
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
