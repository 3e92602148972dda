package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
)

// OnceOptions say how [Ledger.Once] waits and what it may run again.
type OnceOptions struct {
	// ClaimAt is when this instance may create the record if nobody has:
	// now for the leader, --takeover-after later for the others, so that
	// the leader runs it when it is there.
	ClaimAt time.Time
	// NoWait returns OnceBusy instead of waiting for a run elsewhere.
	NoWait bool
	// RetryFailed runs again a task found failed (or lost) at the first
	// look. A run that fails while this instance waits is its result,
	// never a reason to run it again.
	RetryFailed bool
	// RefuseLost, when a runner's lease ran out (its instance died
	// mid-run), records the run lost instead of running it again.
	RefuseLost bool
	// Poll is how often a waiting instance reads the record (2 s when 0).
	Poll time.Duration
	// Waiting, when set, hears every read that finds the task running
	// elsewhere (progress on stderr) and every read that failed while
	// waiting (err not nil; retried at the next poll).
	Waiting func(r Record, err error)
}

// OnceOutcome is what [Ledger.Once] came to.
type OnceOutcome int

// Outcomes of Once.
const (
	OnceRun  OnceOutcome = iota // this instance runs the task: hold Run, then finish it
	OnceDone                    // the task has ended: Record says how (Succeeded, Failed or Lost)
	OnceBusy                    // with NoWait: it runs elsewhere
)

func (o OnceOutcome) String() string {
	switch o {
	case OnceRun:
		return "run"
	case OnceDone:
		return "done"
	case OnceBusy:
		return "busy"
	}
	return "OnceOutcome(?)"
}

// OnceResult is the answer of [Ledger.Once].
type OnceResult struct {
	Outcome OnceOutcome
	Run     *Run   // OnceRun
	Record  Record // OnceDone, OnceBusy: the record as read; OnceRun: the one replaced, if any
	Waited  bool   // this instance saw the task running elsewhere
}

// DefaultOncePoll is how often a waiting instance reads a deploy task's
// record: a GetItem every 2 s per waiting instance, for the minutes of a
// migration.
const DefaultOncePoll = 2 * time.Second

// Once is the barrier of a deploy task: exactly one instance of the group
// runs the task of key k (a record created with a conditional write), the
// others wait for its end and learn how it ended. A task that succeeded is
// never run again; one that failed only with RetryFailed; one whose runner
// died mid-run (its lease ran out) is taken over by one waiter (fence + 1),
// unless RefuseLost. An error means the ledger could not be asked (at the
// first read), or ctx ended while waiting (the last read's error, or the
// context's cause).
func (l *Ledger) Once(ctx context.Context, k Key, o OnceOptions) (OnceResult, error) {
	if err := k.Check(); err != nil {
		return OnceResult{}, err
	}
	c := clock.Or(l.Clock)
	poll := o.Poll
	if poll <= 0 {
		poll = DefaultOncePoll
	}
	first := true
	waited := false
	var lastErr error
	for {
		r, found, err := l.Store.Get(ctx, k)
		if err != nil {
			if first || ctx.Err() != nil {
				return OnceResult{}, err
			}
			lastErr = err
			if o.Waiting != nil {
				o.Waiting(Record{}, err)
			}
		} else {
			res, done, err := l.onceStep(ctx, k, r, found, first, waited, o)
			if err != nil || done {
				return res, err
			}
			first = false
			if found && r.State == Running && !r.Expired(l.Now()) {
				waited = true
				if o.Waiting != nil {
					o.Waiting(r, nil)
				}
			}
		}
		next := l.Now().Add(poll)
		if !found && err == nil && o.ClaimAt.Before(next) {
			next = o.ClaimAt
		}
		select {
		case <-ctx.Done():
			if lastErr != nil && !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return OnceResult{}, lastErr
			}
			return OnceResult{Waited: waited}, context.Cause(ctx)
		case <-clock.Until(c, next):
		}
	}
}

// onceStep acts on one read of the record. done says the loop is over.
func (l *Ledger) onceStep(ctx context.Context, k Key, r Record, found, first, waited bool, o OnceOptions) (OnceResult, bool, error) {
	now := l.Now()
	var next Record
	var err error
	switch {
	case !found && now.Before(o.ClaimAt):
		return OnceResult{}, false, nil
	case !found:
		next = l.untimedRecord(k, now)
		err = l.Store.Create(ctx, next)
	case r.State == Succeeded:
		return OnceResult{Outcome: OnceDone, Record: r, Waited: waited}, true, nil
	case r.State == Running && !r.Expired(now):
		if o.NoWait {
			return OnceResult{Outcome: OnceBusy, Record: r}, true, nil
		}
		return OnceResult{}, false, nil
	case r.State == Running && o.RefuseLost: // its runner died mid-run
		lost := r
		lost.State = Lost
		switch err := l.Store.Swap(ctx, r, lost); {
		case err == nil:
			return OnceResult{Outcome: OnceDone, Record: lost, Waited: waited}, true, nil
		case IsConflict(err):
			return OnceResult{}, false, nil // taken over or finished meanwhile: read again
		default:
			return OnceResult{}, true, err
		}
	case r.State == Running: // its runner died mid-run: take it over
		next = l.takeOver(r, now)
		err = l.Store.Swap(ctx, r, next)
	case first && o.RetryFailed: // failed or lost before this instance looked
		next = l.takeOver(r, now)
		err = l.Store.Swap(ctx, r, next)
	default: // failed or lost: its result, for every waiter
		return OnceResult{Outcome: OnceDone, Record: r, Waited: waited}, true, nil
	}
	switch {
	case err == nil:
		run := &Run{l: l, rec: next}
		if found {
			prev := r
			run.Rerun = &prev
		}
		return OnceResult{Outcome: OnceRun, Run: run, Record: r, Waited: waited}, true, nil
	case IsConflict(err):
		return OnceResult{}, false, nil // another instance got there first: read again
	default:
		return OnceResult{}, true, err
	}
}
