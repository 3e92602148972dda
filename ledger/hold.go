package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
)

var _ gate.Held = (*Run)(nil)

// Env is what a job of a claimed run sees besides its environment, for
// callers that run it themselves (a deploy task has no tick; a tick is
// given in UTC: the scheduler, which knows the job's zone, builds its own
// with gate.RunEnv, the one builder of these variables).
func (r *Run) Env() []string {
	rec := r.rec
	e := gate.RunEnv{Job: rec.Job, Tick: rec.Tick.UTC(), RunID: rec.RunID(), Fence: rec.Fence}
	if rec.Untimed() {
		e.Job, e.Tick = rec.Name(), time.Time{}
	}
	return e.Env()
}

// ErrLeaseLost says the job was stopped because its lease is gone.
var ErrLeaseLost = errors.New("lease lost")

// Hold keeps the run's lease while its job runs (gate.Held): it renews the
// lease every RenewEvery(grace) until finish is called. held is cancelled,
// with a cause wrapping ErrLeaseLost, when a renewal is refused (someone
// took the tick over: stop the job at once) or when none got through by
// grace before the lease's end: the job, sent SIGTERM then and SIGKILL
// grace later, is gone when the lease ends and others may take it over.
// Each renewal has its own deadline (the ledger's Timeout) and a failed one
// is retried, so one unanswered call does not stop a healthy job.
//
// finish stops the renewals and records the end: Finish with the exit
// code, or, for a run stopped by shutdown or a drain, Release. It retries
// within the lease. When the lease was lost it records nothing and returns
// the cause.
func (r *Run) Hold(ctx context.Context, grace time.Duration) (held context.Context, finish func(gate.End) error) {
	log := r.l.log()
	clk := clock.Or(r.l.Clock)
	// A grace as long as the lease leaves renewals no time: the CLI
	// refuses it (--lease must exceed --grace); here it is capped so that a
	// holder still renews.
	grace = min(max(grace, 0), r.l.lease()*9/10)
	held, lose := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		wait := r.RenewEvery(grace)
		for {
			select {
			case <-stop:
				return
			case <-held.Done():
				return
			case <-clk.After(wait):
			}
			// The job must be gone by the lease's end: SIGTERM at stopBy,
			// SIGKILL grace later.
			stopBy := r.rec.LeaseUntil.Add(-grace)
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), min(r.l.timeout(), max(stopBy.Sub(r.l.Now()), time.Millisecond)))
			err := r.Renew(rctx)
			rcancel()
			rec := r.rec
			switch {
			case err == nil:
				wait = r.RenewEvery(grace)
			case IsConflict(err):
				log.Error("lease refused: the tick was taken over; stopping the job", "job", rec.Job, "tick", rec.TickString(), "run_id", rec.RunID(), "err", err)
				lose(fmt.Errorf("%w: %s was taken over (%v); its process group was stopped", ErrLeaseLost, rec.Key, err))
				return
			case !r.l.Now().Before(stopBy):
				log.Error("lease renewals did not get through; stopping the job so that it is gone before its lease ends", "job", rec.Job, "tick", rec.TickString(),
					"run_id", rec.RunID(), "lease_until", rec.LeaseUntil, "grace", grace, "err", err)
				lose(fmt.Errorf("%w: the lease of %s ran out, or would before the job could be stopped within its grace %s, with no renewal through (%v); its process group was stopped",
					ErrLeaseLost, rec.Key, grace, err))
				return
			default:
				log.Warn("lease renewal failed; trying again", "job", rec.Job, "lease_until", rec.LeaseUntil, "stop_by", stopBy, "err", err)
				// Soon, and at least twice more before the job must stop.
				wait = min(time.Second, max(stopBy.Sub(r.l.Now())/3, 0))
			}
		}
	}()
	return held, func(end gate.End) error {
		close(stop)
		<-stopped
		if cause := context.Cause(held); errors.Is(cause, ErrLeaseLost) {
			return cause
		}
		lose(nil)
		write, what := func(c context.Context) error { return r.Finish(c, end.Code) }, fmt.Sprintf("record the end of %s (exit %d)", r.rec.Key, end.Code)
		if end.Stopped {
			write, what = r.Release, fmt.Sprintf("let go of %s (stopped, exit %d)", r.rec.Key, end.Code)
		}
		if err := r.retry(ctx, write); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
}

// retry calls write, each call bounded by the ledger's Timeout, until it
// gets through, is refused, or the lease ends (others may take the tick
// over then, and a write would come too late to stop them).
func (r *Run) retry(ctx context.Context, write func(context.Context) error) error {
	ctx = context.WithoutCancel(ctx)
	clk := clock.Or(r.l.Clock)
	pause := 250 * time.Millisecond
	for warned := false; ; warned = true {
		left := r.rec.LeaseUntil.Sub(r.l.Now())
		wctx, cancel := context.WithTimeout(ctx, max(min(r.l.timeout(), left), time.Millisecond))
		err := write(wctx)
		cancel()
		if err == nil || IsConflict(err) || exitcode.Of(err) == exitcode.Config {
			return err
		}
		left = r.rec.LeaseUntil.Sub(r.l.Now())
		if left <= pause {
			return fmt.Errorf("%w (retried until the lease ended)", err)
		}
		if !warned {
			r.l.log().Warn("ledger write failed; trying again until the lease ends", "job", r.rec.Job, "tick", r.rec.TickString(), "lease_until", r.rec.LeaseUntil, "err", err)
		}
		<-clk.After(pause)
		pause = min(2*pause, 2*time.Second)
	}
}
