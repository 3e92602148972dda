package ledger

import "time"

// ClaimAt is when an instance tries to claim a tick: the leader at the tick
// plus its random delay (below jitter, the job's "# jitter:" bound), every
// other instance takeover after the latest moment the leader could have
// claimed (tick + jitter), so that a leader that died just before the tick
// costs one takeover delay, not the tick, and a leader still in its jitter
// is never overtaken. The jitter is applied before the claim, not after:
// a claim then always means the run starts, and costs no renewal while it
// waits.
func ClaimAt(tick time.Time, leader bool, takeover, jitter, delay time.Duration) time.Time {
	if leader {
		return tick.Add(max(min(delay, jitter), 0))
	}
	return tick.Add(takeover + max(jitter, 0))
}

// maxCatchUpSteps bounds the walk over a window: a job every second over a
// day is 86,400 steps; a window longer than that for such a job is cut.
const maxCatchUpSteps = 100_000

// CatchUp chooses the one tick to run late after a gap in which no
// scheduler ran: the most recent tick of next within window before now that
// is later than newest (the job's newest record; zero when it has none).
// Only the most recent, never a burst (Kubernetes' rule). ok is false when
// there is none.
func CatchUp(next func(time.Time) time.Time, now time.Time, window time.Duration, newest time.Time) (tick time.Time, ok bool) {
	if window <= 0 {
		return time.Time{}, false
	}
	from := now.Add(-window)
	if !newest.IsZero() && newest.After(from) {
		from = newest
	}
	// next(t) is the first tick strictly after t; start just before from
	// only when from is itself not a tick already run.
	t := next(from.Add(-time.Nanosecond))
	if !newest.IsZero() && !t.After(newest) {
		t = next(newest)
	}
	for i := 0; i < maxCatchUpSteps && !t.IsZero() && t.Before(now); i++ {
		tick, ok = t, true
		t = next(t)
	}
	return tick, ok
}
