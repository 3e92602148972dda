package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/leadergate/leadergate/internal/sim"
)

type simulateCmd struct {
	Instances int           `env:"LEADERGATE_INSTANCES" default:"5" help:"Instances in the simulated group."`
	Others    int           `env:"LEADERGATE_OTHERS" default:"2" help:"Instances of another group in the same region (never counted or tagged)."`
	Chaos     int           `env:"LEADERGATE_CHAOS" placeholder:"ROUNDS" help:"Play this many rounds mixing leader kills, stop/start, launches, immutable deploys and faults."`
	Seed      uint64        `env:"LEADERGATE_SEED" default:"1" help:"Seed for --chaos."`
	Lag       time.Duration `env:"LEADERGATE_LAG" help:"Eventual consistency: a terminated instance looks running this long; rounds are this far apart (emulated time, no real wait)."`
}

func (c *simulateCmd) Run(d *Deps) error {
	// Refused, never replaced: what is printed must be what was asked.
	switch {
	case c.Instances < 1:
		return usageError{fmt.Errorf("--instances %d: a group needs at least 1 instance", c.Instances)}
	case c.Others < 0:
		return usageError{fmt.Errorf("--others %d: cannot be negative", c.Others)}
	case c.Chaos < 0:
		return usageError{fmt.Errorf("--chaos %d: cannot be negative", c.Chaos)}
	case c.Lag < 0:
		return usageError{fmt.Errorf("--lag %s: a duration cannot be negative", c.Lag)}
	}
	cfg := sim.Config{Instances: c.Instances, Others: c.Others, Seed: c.Seed, Lag: c.Lag}
	if c.Chaos > 0 {
		cfg.Script = sim.ChaosScript(c.Chaos, c.Seed)
	}
	fmt.Fprintf(d.Stdout, "%d instances of one Elastic Beanstalk environment and %d of another, against the built-in EC2 and IMDS emulators.\nEvery round, every instance elects at the same moment (as cron fires them); exactly one would run the job, none in a fault round.\n\n", cfg.Instances, c.Others)
	if c.Lag > 0 {
		fmt.Fprintf(d.Stdout, "Rounds are --lag %s apart on the emulator's clock: the round of a change may see the old view (no leader), the next ones what the fleet does once the lag has passed.\n\n", c.Lag)
	}
	res, err := sim.Run(context.Background(), cfg, d.Stdout)
	if err != nil {
		return err
	}
	if res.Problems > 0 {
		return fmt.Errorf("simulation: %d rounds went wrong", res.Problems)
	}
	fmt.Fprintf(d.Stdout, "\nall %d rounds as expected\n", len(res.Rounds))
	return nil
}
