package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
)

// Untimed is the sort key of the records that belong to no tick: a deploy
// task's ([OnceKey]) and a service's lease ([ServiceKey]). Every instance
// derives the same key without agreeing on a time, and the far future sorts
// them first in a group's history (newest first), above the ticks.
var Untimed = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// Prefixes of the job names of untimed records: partitions
// `group#once#<key>` and `group#service#<name>`. A crontab job of the same
// name cannot collide with them: its ticks are never Untimed.
const (
	OncePrefix    = "once#"
	ServicePrefix = "service#"
)

// OnceKey is the record of a deploy task: one per group and key, whatever
// the time.
func OnceKey(group, key string) Key { return Key{Group: group, Job: OncePrefix + key, Tick: Untimed} }

// ServiceKey is the lease of a singleton service: one per group and name.
func ServiceKey(group, name string) Key {
	return Key{Group: group, Job: ServicePrefix + name, Tick: Untimed}
}

// Untimed reports a key of a deploy task or a service rather than a tick.
func (k Key) Untimed() bool { return k.Tick.Equal(Untimed) }

// Name is the user's name of an untimed key (the once key, the service
// name), or the job.
func (k Key) Name() string {
	if k.Untimed() {
		if i := strings.IndexByte(k.Job, '#'); i >= 0 {
			return k.Job[i+1:]
		}
	}
	return k.Job
}

// untimedRecord is a fresh record of an untimed key held by owner from now.
func (l *Ledger) untimedRecord(k Key, now time.Time) Record {
	return Record{
		Key: k, Owner: l.Owner, State: Running, Fence: 1, Attempt: 1,
		LeaseUntil: now.Add(l.lease()), Started: now, Expires: now.Add(l.retain()),
	}
}

// takeOver is r held by this instance from now: fence + 1, attempt + 1.
func (l *Ledger) takeOver(r Record, now time.Time) Record {
	next := r
	next.Owner, next.State, next.Fence, next.Attempt = l.Owner, Running, r.Fence+1, r.Attempt+1
	next.LeaseUntil, next.Started, next.Finished, next.ExitCode = now.Add(l.lease()), now, time.Time{}, 0
	next.Expires = now.Add(l.retain())
	return next
}

// Lease is a service's lease, held by this instance: while it is held, no
// other instance's [Ledger.Acquire] succeeds. Its fence grows by one at
// every handover and never goes back.
type Lease struct {
	l   *Ledger
	rec Record
}

// Record is the lease's record as last written.
func (s *Lease) Record() Record { return s.rec }

// Fence is the lease's fence: greater than any earlier holder's.
func (s *Lease) Fence() int64 { return s.rec.Fence }

// Acquire tries to take the lease k for this instance: it succeeds when
// nobody holds it (no record yet, and create is true), when its holder
// released it, or when the holder's lease has run out (the holder died, or
// could not renew and stopped its command by then). Otherwise it returns
// nil and the holder's record. One consistent read, and one conditional
// write when the lease is free. An error means the ledger could not be
// asked.
func (l *Ledger) Acquire(ctx context.Context, k Key, create bool) (*Lease, Record, error) {
	if err := k.Check(); err != nil {
		return nil, Record{}, err
	}
	r, found, err := l.Store.Get(ctx, k)
	if err != nil {
		return nil, Record{}, err
	}
	now := l.Now()
	var next Record
	switch {
	case !found && !create:
		return nil, Record{}, nil
	case !found:
		next = l.untimedRecord(k, now)
		err = l.Store.Create(ctx, next)
	case r.State == Running && !r.Expired(now):
		return nil, r, nil
	default: // released, or its holder's lease ran out
		next = l.takeOver(r, now)
		err = l.Store.Swap(ctx, r, next)
	}
	var c *Conflict
	switch {
	case err == nil:
		return &Lease{l: l, rec: next}, Record{}, nil
	case errors.As(err, &c):
		if c.Holder != nil {
			return nil, *c.Holder, nil
		}
		return nil, r, nil
	default:
		return nil, Record{}, err
	}
}

// Renew extends the lease by the ledger's Lease from now. A *Conflict
// means someone else holds it now: stop at once.
func (s *Lease) Renew(ctx context.Context) error {
	next := s.rec
	next.LeaseUntil = s.l.Now().Add(s.l.lease())
	next.Expires = s.l.Now().Add(s.l.retain())
	if err := s.l.Store.Swap(ctx, s.rec, next); err != nil {
		return err
	}
	s.rec = next
	return nil
}

// Release gives the lease back at once: the next holder need not wait for
// it to run out. Call it only once the command it guarded has stopped.
func (s *Lease) Release(ctx context.Context) error {
	next := s.rec
	now := s.l.Now()
	next.State, next.LeaseUntil, next.Finished = Released, now, now
	if err := s.l.Store.Swap(ctx, s.rec, next); err != nil {
		return err
	}
	s.rec = next
	return nil
}

// Env is what the guarded command sees: LEADERGATE_FENCE grows at every
// handover, so the command's own writes can refuse an older holder's.
func (s *Lease) Env() []string {
	return []string{
		"LEADERGATE_JOB=" + s.rec.Name(),
		"LEADERGATE_RUN_ID=" + s.rec.RunID(),
		"LEADERGATE_FENCE=" + strconv.FormatInt(s.rec.Fence, 10),
	}
}

// Keep renews the lease every third of it while its command runs. held is
// cancelled, with a cause wrapping ErrLeaseLost, when a renewal is refused
// (someone else holds it: stop at once) or when none got through by
// LeaseUntil - stopAhead: stopAhead is the time the caller needs to stop
// its command (the grace between SIGTERM and SIGKILL) plus the clock skew
// it allows between instances, so that the command is gone before anyone
// else may take the lease. stop ends the renewals.
func (s *Lease) Keep(ctx context.Context, stopAhead time.Duration, log *slog.Logger) (held context.Context, stop func()) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := clock.Or(s.l.Clock)
	held, lose := context.WithCancelCause(ctx)
	quit := make(chan struct{})
	done := make(chan struct{})
	every := s.l.lease() / 3
	// A failed renewal is retried this often until the stop point.
	retry := min(time.Second, max(s.l.lease()/20, 10*time.Millisecond))
	go func() {
		defer close(done)
		wait := every
		for {
			stopAt := s.rec.LeaseUntil.Add(-stopAhead)
			next := c.Now().Add(wait)
			if stopAt.Before(next) {
				next = stopAt
			}
			select {
			case <-quit:
				return
			case <-held.Done():
				return
			case <-clock.Until(c, next):
			}
			if !c.Now().Before(stopAt) {
				log.Error("service lease not renewed in time; stopping the command before the lease runs out",
					"service", s.rec.Name(), "fence", s.rec.Fence, "lease_until", s.rec.LeaseUntil)
				lose(fmt.Errorf("%w: no renewal of %s got through before %s (the lease runs out at %s)",
					ErrLeaseLost, s.rec.Key, stopAt.UTC().Format(time.RFC3339Nano), s.rec.LeaseUntil.UTC().Format(time.RFC3339Nano)))
				return
			}
			rctx, cancel := clock.WithTimeout(context.WithoutCancel(ctx), c, stopAt.Sub(c.Now()))
			err := s.Renew(rctx)
			cancel()
			switch {
			case err == nil:
				wait = every
			case IsConflict(err):
				log.Error("service lease taken by another instance; stopping the command", "service", s.rec.Name(), "fence", s.rec.Fence, "err", err)
				lose(fmt.Errorf("%w: %s is held by another instance now (%v)", ErrLeaseLost, s.rec.Key, err))
				return
			default:
				log.Warn("service lease renewal failed; trying again", "service", s.rec.Name(), "lease_until", s.rec.LeaseUntil, "err", err)
				wait = retry
			}
		}
	}()
	return held, func() {
		close(quit)
		<-done
		lose(nil)
	}
}
