//go:build !metrics

package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/leadergate/leadergate/internal/sim"
	"github.com/leadergate/leadergate/internal/timeline"
	"github.com/leadergate/leadergate/ledger"
)

// The operator's tools that draw and simulate: in the default build only
// (tools_metrics.go says why).

// errNoPicture is nil: this build draws history --html.
var errNoPicture error

func drawTimeline(w io.Writer, group string, recs []ledger.Record, now time.Time, since time.Duration) error {
	if err := timeline.Render(w, recs, timeline.Options{Group: group, Now: now, Since: since}); err != nil {
		return fmt.Errorf("history: --html: %w", err)
	}
	return nil
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
