package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/leadergate/leadergate/elect"
)

// Job names one run that may or may not happen now.
type Job struct {
	Name string    // crontab file:line, job name, or the command line
	Tick time.Time // the nominal fire time of a scheduled run; zero for ad-hoc runs
}

// Permit answers "may this job run now?".
type Permit struct {
	Run    bool
	Reason string // why, for -v and logs
	// Stale is set when the election failed and an older verdict was
	// accepted instead (--stale-ok); Note says why, for stderr.
	Stale bool
	Note  string
}

// Authority answers "may this job run now?": the election, or --assume.
// Without a tick ledger its answer is final. With one (Options.Turn of run,
// schedule's Options.Ledger) it is only the hint of who tries first: the
// [Turn] decides, and an Authority that cannot tell delays this instance's
// turn rather than skipping it. An error means "cannot tell"; its ExitCode
// says why (75 temporary, 78 configuration: that one stops a ledger run too).
type Authority interface {
	MayRun(ctx context.Context, job Job) (Permit, error)
}

// Assume is an Authority that answers without AWS: true for leader, false
// for follower. For laptops, staging and CI.
type Assume bool

// MayRun implements Authority.
func (a Assume) MayRun(context.Context, Job) (Permit, error) {
	if a {
		return Permit{Run: true, Reason: "assumed leader (--assume)"}, nil
	}
	return Permit{Run: false, Reason: "assumed follower (--assume)"}, nil
}

// Decider is what the gate needs of an election.
type Decider interface {
	Decide(ctx context.Context, req elect.Request) (elect.Verdict, error)
}

// Election is the Authority backed by the leader election: a job may run
// where this instance is the leader.
type Election struct{ Decider Decider }

// MayRun implements Authority.
func (e Election) MayRun(ctx context.Context, job Job) (Permit, error) {
	v, err := e.Decider.Decide(ctx, elect.Request{Tick: job.Tick})
	if err != nil {
		return Permit{}, err
	}
	p := Permit{Run: v.Leader, Stale: v.Stale}
	if v.Leader {
		p.Reason = fmt.Sprintf("%s is the leader of %s=%s: %s", v.Self, v.GroupKey, v.Group, v.Reason)
	} else {
		p.Reason = fmt.Sprintf("%s is a follower in %s=%s: %s", v.Self, v.GroupKey, v.Group, v.Reason)
	}
	if v.Stale {
		p.Note = fmt.Sprintf("using the verdict of %s (--stale-ok): %s", v.At.UTC().Format(time.RFC3339), v.StaleCause)
	}
	return p, nil
}
