package cli

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/flock"
	"github.com/leadergate/leadergate/lifecycle"
	"github.com/leadergate/leadergate/schedule"
)

// lifecycleFlags are schedule's flags for draining and scale-in protection.
type lifecycleFlags struct {
	IMDSPoll         time.Duration `name:"imds-poll" env:"LEADERGATE_IMDS_POLL" default:"5s" help:"Poll IMDS this often for Spot and Auto Scaling notices, and step down on one; 0s turns it off."`
	DrainOnRebalance bool          `env:"LEADERGATE_DRAIN_ON_REBALANCE" help:"Also step down on a Spot rebalance recommendation (only a hint that an interruption may come)."`
	Protect          bool          `env:"LEADERGATE_PROTECT" help:"Protect this instance from scale-in while a leader-only job runs (see leadergate iam-policy --protect)."`
	NoLifecycle      bool          `env:"LEADERGATE_NO_LIFECYCLE" help:"Run without lifecycle powers: never drain this instance (on SIGTERM or on notices) nor protect it; for a second scheduler next to the instance's service."`
}

// withLifecycle starts draining and protection for a scheduler using the
// real election (not --assume), wiring them into opts. wait returns once the
// manager has drained this instance after ctx is done.
func (f *lifecycleFlags) withLifecycle(ctx context.Context, g *Globals, d *Deps, auth gate.Authority, log *slog.Logger, opts *schedule.Options) (wait func()) {
	el, ok := auth.(gate.Election)
	if !ok {
		return func() {}
	}
	e, ok := el.Decider.(*elect.Elector)
	if !ok {
		return func() {}
	}
	aws, ok := e.Identity.(*elect.AWS)
	if !ok {
		return func() {}
	}
	if f.NoLifecycle {
		log.Info("running without lifecycle powers (--no-lifecycle): this scheduler never drains or protects this instance")
		return func() {}
	}
	// One scheduler per instance (per state dir) owns its lifecycle: a
	// second one, tried by hand next to the service, must not drain the
	// instance when it stops. The lock is held until this process exits.
	lock, err := flock.Open(filepath.Join(g.stateDir(), "lifecycle.lock"))
	if err == nil {
		var held bool // by another process
		if held, err = flock.TryLock(lock); err == nil && held {
			lock.Close()
			log.Warn("another scheduler on this instance owns its lifecycle: this one runs without lifecycle powers (it never drains or protects this instance)", "state_dir", g.stateDir())
			return func() {}
		}
	}
	if err != nil {
		log.Warn("cannot take the lifecycle lock; running without lifecycle powers", "error", err)
		return func() {}
	}
	drains := make(chan schedule.Drain, 4)
	m := &lifecycle.Manager{
		Interval: f.IMDSPoll,
		Drainer:  e,
		OnDrain: func(reason string, deadline time.Time) {
			select {
			case drains <- schedule.Drain{Reason: reason, Deadline: deadline}:
			default:
			}
		},
		Clock:  d.Clock,
		Logger: log,
	}
	if f.IMDSPoll > 0 {
		m.Watcher = &lifecycle.Watcher{Metadata: aws, Rebalance: f.DrainOnRebalance, Logger: log}
	}
	if f.Protect {
		m.Protector = &lifecycle.ASG{Config: aws.Config, Identity: aws, Fleet: aws}
		m.ProtectRecord = filepath.Join(g.stateDir(), "protected")
		opts.LeaderJobs = m.LeaderJobs
	}
	opts.Drains = drains
	m.Start(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.Run(ctx)
	}()
	return func() {
		wg.Wait()
		lock.Close() // held until the manager has drained, or not
	}
}
