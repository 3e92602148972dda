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

// SuperviseOptions say how Supervise runs a job.
type SuperviseOptions struct {
	Grace   time.Duration    // between SIGTERM and SIGKILL when the lease is lost
	Signals <-chan os.Signal // forwarded to the job's process group (SIGTERM, SIGINT, SIGHUP)
	Log     *slog.Logger     // nil discards
	Finish  time.Duration    // bound on the finishing write; 10s when 0
	Stop    <-chan struct{}  // closed: stop the job as if the lease were lost (shutdown)
	OnStart func(pid int)    // called once the job runs, for tests
	after   func(time.Duration) <-chan time.Time
}

// Supervise runs cmd as the job of run, in its own process group. It renews
// the lease every run.RenewEvery; a renewal refused (someone took the tick
// over) stops the job at once, and one that cannot get through before the
// lease ends stops it at the lease's end: SIGTERM to the group, SIGKILL
// after opts.Grace. When the job ends by itself its exit is recorded with
// Finish. code is the job's exit code as a shell reports it; err is set
// when the job could not start, was stopped for its lease (wrapping
// ErrLeaseLost), or its end could not be recorded.
func Supervise(ctx context.Context, run *Run, cmd *exec.Cmd, opts SuperviseOptions) (code int, err error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	after := opts.after
	if after == nil {
		after = time.After
	}
	if opts.Finish <= 0 {
		opts.Finish = 10 * time.Second
	}
	cmd.Env = append(cmd.Environ(), run.Env()...)
	g, err := gate.StartGroup(cmd)
	if err != nil {
		// Nothing ran: record the failure to start, so history says so.
		code := gate.ExitCode(err)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Finish)
		defer cancel()
		if ferr := run.Finish(fctx, code); ferr != nil {
			log.Warn("cannot record the failed start in the ledger", "run_id", run.rec.RunID(), "err", ferr)
		}
		return code, err
	}
	if opts.OnStart != nil {
		opts.OnStart(g.Pgid())
	}
	stopJob, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan struct{})
	var exit int
	go func() {
		defer close(done)
		exit, _ = g.Wait(stopJob, opts.Grace)
	}()

	var lost error
	renew := after(run.RenewEvery())
loop:
	for {
		select {
		case <-done:
			break loop
		case s := <-opts.Signals:
			if sig, ok := s.(syscall.Signal); ok {
				_ = g.Signal(sig)
			}
		case <-opts.Stop:
			lost = errors.New("stopped by shutdown")
			cancel(lost)
			opts.Stop = nil
		case <-renew:
			rctx, rcancel := context.WithDeadline(ctx, run.rec.LeaseUntil)
			rerr := run.Renew(rctx)
			rcancel()
			switch {
			case rerr == nil:
				renew = after(run.RenewEvery())
			case IsConflict(rerr):
				lost = fmt.Errorf("%w: %s was taken over (%v); stopping its process group", ErrLeaseLost, run.rec.Key, rerr)
				log.Error("lease refused: the tick was taken over; stopping the job", "job", run.rec.Job, "tick", run.rec.TickString(), "run_id", run.rec.RunID(), "err", rerr)
				cancel(lost)
				renew = nil
			case !run.l.Now().Before(run.rec.LeaseUntil):
				lost = fmt.Errorf("%w: the lease of %s ran out before a renewal got through (%v); stopping its process group", ErrLeaseLost, run.rec.Key, rerr)
				log.Error("lease ran out unrenewed; stopping the job", "job", run.rec.Job, "tick", run.rec.TickString(), "run_id", run.rec.RunID(), "err", rerr)
				cancel(lost)
				renew = nil
			default:
				log.Warn("lease renewal failed; trying again", "job", run.rec.Job, "lease_until", run.rec.LeaseUntil, "err", rerr)
				renew = after(min(time.Second, max(time.Until(run.rec.LeaseUntil), 0)))
			}
		}
	}
	if lost != nil {
		// Someone else may own the tick now: record nothing.
		return exit, lost
	}
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), opts.Finish)
	defer fcancel()
	if err := run.Finish(fctx, exit); err != nil {
		return exit, fmt.Errorf("record the end of %s (exit %d): %w", run.rec.Key, exit, err)
	}
	return exit, nil
}
