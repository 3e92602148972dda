package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
)

type checkCmd struct{}

func (c *checkCmd) Run(g *Globals, d *Deps) error {
	auth, err := g.authority(d, newLogger(d.Stderr, g.Verbose, ""))
	if err != nil {
		return err
	}
	p, err := auth.MayRun(context.Background(), gate.Job{Name: "check"})
	if err != nil {
		return err
	}
	if p.Stale {
		say(d.Stderr, levelWarning, p.Note)
	}
	if g.Verbose {
		say(d.Stderr, levelInfo, p.Reason)
	}
	if !p.Run {
		return exitStatus(1)
	}
	return nil
}

type electCmd struct{}

func (c *electCmd) Run(g *Globals, d *Deps) error {
	if g.Assume != "" {
		return usageError{errors.New("elect makes a real election and cannot be combined with --assume")}
	}
	log := newLogger(d.Stderr, g.Verbose, "")
	e, err := g.elector(d, log)
	if err != nil {
		return err
	}
	v, err := e.Decide(context.Background(), elect.Request{Force: true})
	if err != nil {
		return err
	}
	if v.Stale {
		say(d.Stderr, levelWarning, fmt.Sprintf("election failed, kept the verdict of %s (--stale-ok): %s", v.At.Format(time.RFC3339), v.StaleCause))
	}
	if g.Verbose {
		say(d.Stderr, levelInfo, fmt.Sprintf("leader=%t leader_id=%s group=%s=%s candidates=%d: %s", v.Leader, v.LeaderID, v.GroupKey, v.Group, v.Candidates, v.Reason))
	}
	return nil
}
