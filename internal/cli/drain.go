package cli

import (
	"context"
	"errors"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/voice"
)

// drainCmd is an operator's planned step-down: maintenance, debugging.
type drainCmd struct {
	Reason string `env:"LEADERGATE_REASON" default:"operator drain" placeholder:"TEXT" help:"Why, shown by status on every instance."`
}

func (c *drainCmd) Run(g *Globals, d *Deps) error {
	if g.Assume != "" {
		return usageError{errors.New("drain tags this instance and cannot be combined with --assume")}
	}
	e, err := g.elector(d, newLogger(d.Stderr, g.Verbose, ""))
	if err != nil {
		return err
	}
	ctx, cancel := clock.WithTimeout(context.Background(), d.Clock, g.Timeout)
	defer cancel()
	if err := e.Drain(ctx, elect.Drain{Reason: c.Reason, Cause: elect.CauseOperator}); err != nil {
		return err
	}
	if g.Verbose {
		voice.Say(d.Stderr, voice.Info, "drained: every election now passes over this instance; undo with leadergate undrain")
	}
	return nil
}

// undrainCmd puts this instance back into the elections.
type undrainCmd struct{}

func (c *undrainCmd) Run(g *Globals, d *Deps) error {
	if g.Assume != "" {
		return usageError{errors.New("undrain tags this instance and cannot be combined with --assume")}
	}
	e, err := g.elector(d, newLogger(d.Stderr, g.Verbose, ""))
	if err != nil {
		return err
	}
	ctx, cancel := clock.WithTimeout(context.Background(), d.Clock, g.Timeout)
	defer cancel()
	return e.Undrain(ctx)
}
