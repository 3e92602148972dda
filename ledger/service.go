package ledger

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// DefaultServicePoll is how often an instance that does not hold a
// service's lease reads it: one GetItem a second, so that a lease given back
// (a drain, a deploy's SIGTERM) is taken within about a second.
const DefaultServicePoll = time.Second

// Service is the turn of a singleton service: the instance that holds the
// lease runs the command, every other instance reads the lease every Poll
// and takes it when it is given back or has run out. The lease's end is
// respected on both sides: a holder that cannot renew stops its command
// StopAhead before the lease ends, and nobody else takes it before it has
// ended.
type Service struct {
	Ledger *Ledger
	Key    Key
	// Leader says whether this instance is the election's leader: when no
	// lease exists yet (the fleet's first start), the leader takes it at
	// once, the others only after TakeoverAfter of finding none. An error
	// counts as "not the leader".
	Leader        func(ctx context.Context) (bool, error)
	TakeoverAfter time.Duration
	Poll          time.Duration // DefaultServicePoll when 0
	// StopAhead is the time the command needs to stop (its grace) plus the
	// clock skew allowed between instances (see [Lease.Keep]).
	StopAhead time.Duration
	// HandOver, when set, is asked every Poll: a non-empty reason (a
	// drain, a Spot or Auto Scaling notice) makes the holder stop its
	// command and give the lease back, and keeps this instance from taking
	// it.
	HandOver func(ctx context.Context) string
	// Run runs the command while the lease is held: it returns once ctx
	// has ended and the command has stopped.
	Run    func(ctx context.Context, l *Lease)
	Logger *slog.Logger
}

// Loop takes turns until ctx ends: then it stops the command, if it runs
// here, and gives the lease back. It returns an error only when ctx has
// not ended and the ledger refuses for good (a configuration error: no
// table, no permission); temporary errors are logged and retried.
func (s *Service) Loop(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := clock.Or(s.Ledger.Clock)
	poll := s.Poll
	if poll <= 0 {
		poll = DefaultServicePoll
	}
	var noneSince time.Time // when this instance first found no lease at all
	var lastHolder string
	for ctx.Err() == nil {
		if why := s.handOver(ctx); why != "" {
			if !s.wait(ctx, c, poll) {
				return nil
			}
			continue
		}
		create := false
		if !noneSince.IsZero() {
			leader, _ := s.leader(ctx)
			create = leader || !s.Ledger.Now().Before(noneSince.Add(s.TakeoverAfter))
		}
		lease, holder, err := s.Ledger.Acquire(ctx, s.Key, create)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			if exitcode.Is(err, exitcode.Config) {
				return err
			}
			log.Warn("cannot read the service's lease; trying again", "service", s.Key.Name(), "err", err)
		case lease != nil:
			noneSince, lastHolder = time.Time{}, ""
			s.hold(ctx, lease, c, poll, log)
			continue
		case holder.Owner == "":
			if noneSince.IsZero() {
				noneSince = s.Ledger.Now()
				// The leader may take it at once: ask right away.
				if leader, _ := s.leader(ctx); leader {
					continue
				}
			}
		default:
			noneSince = time.Time{}
			if holder.Owner != lastHolder {
				log.Info("service runs on another instance; waiting for its lease", "service", s.Key.Name(),
					"holder", holder.Owner, "fence", holder.Fence, "lease_until", holder.LeaseUntil)
				lastHolder = holder.Owner
			}
		}
		if !s.wait(ctx, c, poll) {
			return nil
		}
	}
	return nil
}

// hold runs the command under the lease until the lease is lost, a
// handover is asked for, or ctx ends; then it gives the lease back unless
// it was lost.
func (s *Service) hold(ctx context.Context, lease *Lease, c clock.Clock, poll time.Duration, log *slog.Logger) {
	rec := lease.Record()
	log.Info("service lease taken: starting the command", "service", s.Key.Name(), "fence", rec.Fence, "lease_until", rec.LeaseUntil)
	held, stopKeeping := lease.Keep(ctx, s.StopAhead, log)
	runCtx, handOver := context.WithCancelCause(held)
	watched := make(chan struct{})
	go func() { // a drain or a notice hands over at once
		defer close(watched)
		for {
			select {
			case <-runCtx.Done():
				return
			case <-c.After(poll):
			}
			if why := s.handOver(runCtx); why != "" {
				log.Info("handing the service over", "service", s.Key.Name(), "why", why)
				handOver(errors.New(why))
				return
			}
		}
	}()
	s.Run(runCtx, lease)
	handOver(nil)
	<-watched
	lost := context.Cause(held)
	stopKeeping()
	if errors.Is(lost, ErrLeaseLost) {
		log.Error("service command stopped: its lease is lost", "service", s.Key.Name(), "fence", rec.Fence, "why", lost)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := lease.Release(rctx); err != nil {
		log.Warn("could not give the service's lease back; the next holder waits for it to run out", "service", s.Key.Name(),
			"lease_until", lease.Record().LeaseUntil, "err", err)
		return
	}
	log.Info("service lease given back", "service", s.Key.Name(), "fence", rec.Fence)
}

// releaseTimeout bounds giving the lease back at shutdown.
const releaseTimeout = 5 * time.Second

func (s *Service) handOver(ctx context.Context) string {
	if s.HandOver == nil {
		return ""
	}
	return s.HandOver(ctx)
}

func (s *Service) leader(ctx context.Context) (bool, error) {
	if s.Leader == nil {
		return false, nil
	}
	return s.Leader(ctx)
}

func (s *Service) wait(ctx context.Context, c clock.Clock, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-c.After(d):
		return true
	}
}
