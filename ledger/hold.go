package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
)

// Env is what a job of a claimed run sees besides its environment.
func (r *Run) Env() []string {
	rec := r.rec
	if rec.Untimed() { // a deploy task: no tick
		return []string{
			"LEADERGATE_JOB=" + rec.Name(),
			"LEADERGATE_RUN_ID=" + rec.RunID(),
			"LEADERGATE_FENCE=" + strconv.FormatInt(rec.Fence, 10),
		}
	}
	return []string{
		"LEADERGATE_SCHEDULED_AT=" + rec.Tick.UTC().Format(time.RFC3339),
		"LEADERGATE_JOB=" + rec.Job,
		"LEADERGATE_RUN_ID=" + rec.RunID(),
		"LEADERGATE_FENCE=" + strconv.FormatInt(rec.Fence, 10),
	}
}

// ErrLeaseLost says the job was stopped because its lease is gone.
var ErrLeaseLost = errors.New("lease lost")

// Hold keeps the run's lease while its job runs: it renews the lease every
// RenewEvery until finish is called. held is cancelled, with a cause
// wrapping ErrLeaseLost, when a renewal is refused (someone took the tick
// over: stop the job at once) or when none got through before the lease
// ended (others may take it over now). finish stops the renewals and
// records exit with Finish, unless the lease was lost: then it records
// nothing and returns the cause.
func (r *Run) Hold(ctx context.Context, log *slog.Logger) (held context.Context, finish func(exit int) error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	held, lose := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		wait := r.RenewEvery()
		for {
			select {
			case <-stop:
				return
			case <-held.Done():
				return
			case <-clock.Or(r.l.Clock).After(wait):
			}
			rctx, rcancel := context.WithDeadline(context.WithoutCancel(ctx), r.rec.LeaseUntil)
			err := r.Renew(rctx)
			rcancel()
			rec := r.rec
			switch {
			case err == nil:
				wait = r.RenewEvery()
			case IsConflict(err):
				log.Error("lease refused: the tick was taken over; stopping the job", "job", rec.Job, "tick", rec.TickString(), "run_id", rec.RunID(), "err", err)
				lose(fmt.Errorf("%w: %s was taken over (%v); its process group was stopped", ErrLeaseLost, rec.Key, err))
				return
			case !r.l.Now().Before(rec.LeaseUntil):
				log.Error("lease ran out unrenewed; stopping the job", "job", rec.Job, "tick", rec.TickString(), "run_id", rec.RunID(), "err", err)
				lose(fmt.Errorf("%w: the lease of %s ran out before a renewal got through (%v); its process group was stopped", ErrLeaseLost, rec.Key, err))
				return
			default:
				log.Warn("lease renewal failed; trying again", "job", rec.Job, "lease_until", rec.LeaseUntil, "err", err)
				wait = min(time.Second, max(rec.LeaseUntil.Sub(r.l.Now()), 0))
			}
		}
	}()
	return held, func(exit int) error {
		close(stop)
		<-stopped
		if cause := context.Cause(held); errors.Is(cause, ErrLeaseLost) {
			return cause
		}
		lose(nil)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		if err := r.Finish(fctx, exit); err != nil {
			return fmt.Errorf("record the end of %s (exit %d): %w", r.rec.Key, exit, err)
		}
		return nil
	}
}

// finishTimeout bounds the finishing write.
const finishTimeout = 10 * time.Second
