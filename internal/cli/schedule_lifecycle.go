package cli

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/lifecycle"
	"github.com/leadergate/leadergate/schedule"
)

// lifecycleFlags are schedule's flags for draining and scale-in protection.
type lifecycleFlags struct {
	IMDSPoll         time.Duration `name:"imds-poll" env:"LEADERGATE_IMDS_POLL" default:"5s" help:"Poll IMDS this often for Spot and Auto Scaling notices, and step down on one; 0s turns it off."`
	DrainOnRebalance bool          `env:"LEADERGATE_DRAIN_ON_REBALANCE" help:"Also step down on a Spot rebalance recommendation (only a hint that an interruption may come)."`
	Protect          bool          `env:"LEADERGATE_PROTECT" help:"Protect this instance from scale-in while a leader-only job runs (see leadergate iam-policy --protect)."`
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
	return wg.Wait
}
