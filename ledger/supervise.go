package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/gate"
)

// Env is what a job of a claimed run sees besides its environment.
func (r *Run) Env() []string {
	rec := r.rec
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
			t := time.NewTimer(wait)
			select {
			case <-stop:
				t.Stop()
				return
			case <-held.Done():
				t.Stop()
				return
			case <-t.C:
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

// SuperviseOptions say how Supervise runs a job.
type SuperviseOptions struct {
	Grace   time.Duration    // between SIGTERM and SIGKILL when the lease is lost
	Signals <-chan os.Signal // forwarded to the job's process group (SIGTERM, SIGINT, SIGHUP)
	Log     *slog.Logger     // nil discards
	OnStart func(pid int)    // called once the job runs, for tests
}

// Supervise runs cmd as the job of run, in its own process group, holding
// the lease (see [Run.Hold]): when it is lost the group gets SIGTERM, and
// SIGKILL after opts.Grace. code is the job's exit code as a shell reports
// it; err is set when the job could not start, was stopped for its lease
// (wrapping ErrLeaseLost), or its end could not be recorded.
func Supervise(ctx context.Context, run *Run, cmd *exec.Cmd, opts SuperviseOptions) (code int, err error) {
	cmd.Env = append(cmd.Environ(), run.Env()...)
	g, err := gate.StartGroup(cmd)
	if err != nil {
		// Nothing ran: record the failure to start, so history says so.
		code := gate.ExitCode(err)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		if ferr := run.Finish(fctx, code); ferr != nil && opts.Log != nil {
			opts.Log.Warn("cannot record the failed start in the ledger", "run_id", run.rec.RunID(), "err", ferr)
		}
		return code, err
	}
	if opts.OnStart != nil {
		opts.OnStart(g.Pgid())
	}
	held, finish := run.Hold(ctx, opts.Log)
	done := make(chan int, 1)
	go func() {
		code, _ := g.Wait(held, opts.Grace)
		done <- code
	}()
	for {
		select {
		case code := <-done:
			return code, finish(code)
		case s := <-opts.Signals:
			if sig, ok := s.(syscall.Signal); ok {
				_ = g.Signal(sig)
			}
		}
	}
}
