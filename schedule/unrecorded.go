package schedule

import (
	"context"
	"time"
	"unicode/utf8"
)

// A leader-only tick that did not run because the ledger could not be
// asked (its claim failed, or the controls could not be read: fail closed)
// has no record: nobody could write one. The next scheduler to start finds
// only ticks after the newest record, so a tick in the middle of a ledger
// outage would stay silent in history. Each scheduler remembers such ticks
// and, once the ledger answers again (a read of the controls succeeds),
// records each missed with why, and reports the ones it recorded like a
// failed run: one ERROR line and Hooks.Missed. The write is conditional, so
// a tick that another instance ran or recorded meanwhile stays as it is,
// and a tick several instances remember is reported once fleet-wide.

// maxUnrecorded bounds what a scheduler remembers across one outage; the
// ones past it are counted in one ERROR line when the ledger answers.
const maxUnrecorded = 1000

type unrecordedTick struct {
	job    Job
	tick   time.Time
	reason string
}

type unrecordedTicks struct {
	ticks    []unrecordedTick
	dropped  int
	flushing bool
}

// remember keeps j's tick, not run for reason, to be recorded when the
// ledger answers again.
func (r *runner) remember(j Job, tick time.Time, reason string) {
	if r.opts.Controls == nil {
		return
	}
	if len(reason) > 300 { // an SDK error can be long; the record keeps its start
		// Cut where a character starts: DynamoDB refuses a string that
		// is not UTF-8, and the record would then never be written.
		cut := 300
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut] + "…"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	u := &r.unrecorded
	for _, p := range u.ticks {
		if p.job.Name == j.Name && p.tick.Equal(tick) {
			return
		}
	}
	if len(u.ticks) >= maxUnrecorded {
		u.dropped++
		return
	}
	u.ticks = append(u.ticks, unrecordedTick{j, tick, reason})
}

// recordUnrecorded records the remembered ticks that have settled, in the
// background, now that the controls could be read; the others, and those
// whose write fails, are kept for the next time.
func (r *runner) recordUnrecorded(ctx context.Context, view ControlView) {
	r.mu.Lock()
	u := &r.unrecorded
	if u.flushing || len(u.ticks) == 0 && u.dropped == 0 {
		r.mu.Unlock()
		return
	}
	ticks, dropped := u.ticks, u.dropped
	u.ticks, u.dropped, u.flushing = nil, 0, true
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if dropped > 0 {
			r.log.Error("jobs missed more ticks while the ledger could not be reached than are listed one by one", "missed", dropped)
		}
		var kept []unrecordedTick
		for _, p := range ticks {
			// Not before the tick has settled (the takeover delay and the
			// jitter after it): another instance may still claim and run
			// it, and a record written first would keep it from running.
			if ctx.Err() != nil || r.clock.Now().Before(p.tick.Add(r.opts.Controls.Settled(p.job.Jitter))) {
				kept = append(kept, p)
				continue
			}
			at := p.tick.In(p.job.TZ).Format(time.RFC3339)
			who, paused := view.Paused(p.job.Name, p.tick)
			reason := p.reason
			if paused {
				reason = who // it would not have run anyway
			}
			nctx, cancel := context.WithTimeout(ctx, controlTimeout)
			won, err := r.opts.Controls.Note(nctx, p.job.Name, p.tick, !paused, reason)
			cancel()
			switch {
			case err != nil:
				kept = append(kept, p)
			case !won: // it ran, or is recorded, elsewhere
			case paused:
				r.log.Info("job skipped: paused (recorded once the ledger answered)", "job", p.job.Name, "scheduled_at", at, "pause", who)
				r.opts.Hooks.Skipped(p.job, p.tick, "paused")
			default:
				r.log.Error("job missed: not run at its tick, and recorded once the ledger answered", "job", p.job.Name, "scheduled_at", at, "reason", reason)
				r.opts.Hooks.Missed(p.job, p.tick)
			}
		}
		r.mu.Lock()
		u := &r.unrecorded
		u.ticks = append(kept, u.ticks...)
		u.flushing = false
		r.mu.Unlock()
	}()
}

// unrecordedLeft says, as the scheduler stops, which ticks not run it did
// not record: the ledger did not answer again, or they had not settled.
func (r *runner) unrecordedLeft() {
	r.mu.Lock()
	u := r.unrecorded
	r.mu.Unlock()
	for _, p := range u.ticks {
		r.log.Error("job missed: not run at its tick, and not recorded before the scheduler stopped", "job", p.job.Name,
			"scheduled_at", p.tick.In(p.job.TZ).Format(time.RFC3339), "reason", p.reason)
	}
	if u.dropped > 0 {
		r.log.Error("jobs missed more ticks while the ledger could not be reached than are listed one by one", "missed", u.dropped)
	}
}
