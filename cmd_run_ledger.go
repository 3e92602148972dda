package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/ledger"
)

// LedgerFlags are run's flags for the ledger (embedded in runCmd).
type LedgerFlags struct {
	Job           string        `env:"LEADERGATE_JOB" placeholder:"NAME" help:"With --ledger: the job's name in the ledger (default: the command line)."`
	Tick          string        `env:"LEADERGATE_TICK" placeholder:"T" help:"With --ledger: the nominal tick, RFC 3339 (default: now, truncated to the minute)."`
	TakeoverAfter time.Duration `env:"LEADERGATE_TAKEOVER_AFTER" default:"15s" placeholder:"D" help:"With --ledger: a follower takes an unclaimed tick this long after it."`
	Lease         time.Duration `env:"LEADERGATE_LEASE" default:"60s" placeholder:"D" help:"With --ledger: the claim's lease, renewed every third of it while the command runs."`
	OnLost        string        `env:"LEADERGATE_ON_LOST" enum:"report,rerun" default:"report" placeholder:"report|rerun" help:"With --ledger: a run lost with its instance is reported, or run again (fence + 1)."`
}

// tick is --tick, or now truncated to the minute: cron starts lines at :00,
// and a late start within the minute maps to the same tick.
func (f *LedgerFlags) tick(now time.Time) (time.Time, error) {
	if f.Tick == "" {
		return now.UTC().Truncate(time.Minute), nil
	}
	t, err := time.Parse(time.RFC3339, f.Tick)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("run: --tick %q is not an RFC 3339 time such as 2026-03-14T03:00:00Z", f.Tick)}
	}
	return t.UTC().Truncate(time.Second), nil
}

// runLedger is `run --ledger`: the leader claims the tick and runs the
// command as its child, renewing the lease; a follower, or an instance
// whose election failed, waits --takeover-after and takes the tick only if
// nobody has. A ledger it cannot reach: exit 75, nothing runs.
func (c *runCmd) runLedger(g *Globals, d *Deps, argv []string) error {
	f := &c.LedgerFlags
	if c.NoOverlap || c.MaxRuntime > 0 || c.DryRun {
		// The ledger already refuses a second run of a tick; the others
		// are not wired through its supervisor yet.
		return usageError{errors.New("run: --no-overlap, --max-runtime and --dry-run do not work with --ledger yet; use the scheduler's # timeout: or drop them")}
	}
	if f.TakeoverAfter <= 0 {
		return usageError{fmt.Errorf("run: --takeover-after %s must be positive, e.g. 15s", f.TakeoverAfter)}
	}
	if f.Lease <= 0 {
		return usageError{fmt.Errorf("run: --lease %s must be positive, e.g. 60s", f.Lease)}
	}
	tick, err := f.tick(d.Now())
	if err != nil {
		return err
	}
	job := f.Job
	if job == "" {
		job = strings.Join(argv, " ")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	log := newLogger(d.Stderr, g.Verbose, "")

	// SIGTERM while waiting or claiming ends leadergate; once the command
	// runs, signals are forwarded to its group instead.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	who, err := g.whoLeads(d, log, tick)
	if err != nil {
		return err
	}
	if who.electionErr != nil {
		say(d.Stderr, levelWarning, fmt.Sprintf("election failed (%v); taking the tick over after --takeover-after %s if nobody has", who.electionErr, f.TakeoverAfter))
	}
	key := ledger.Key{Group: who.group, Job: job, Tick: tick}
	if err := key.Check(); err != nil {
		return &ledger.Error{Code: ledger.ExitConfig, Err: err}
	}
	store, err := ledgerStore(context.Background(), g.Ledger, "", d, log, who.region)
	if err != nil {
		return err
	}
	l := &ledger.Ledger{Store: store, Owner: who.self, Now: d.Now, Lease: f.Lease}

	if wait := ledger.ClaimAt(tick, who.leader, f.TakeoverAfter).Sub(d.Now()); wait > 0 {
		select {
		case <-time.After(wait):
		case s := <-sigs:
			return exitStatus(128 + int(s.(syscall.Signal)))
		}
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), g.Timeout,
		fmt.Errorf("no answer from the ledger within --timeout %s", g.Timeout))
	defer cancel()
	cl, err := l.Claim(ctx, key, ledger.ClaimOptions{Look: !who.leader, Rerun: f.OnLost == "rerun"})
	if err != nil {
		return fmt.Errorf("run: %q not run: %w", job, err)
	}
	switch cl.Outcome {
	case ledger.Taken:
		if g.Verbose {
			holder := "another instance"
			if cl.Holder != nil {
				holder = cl.Holder.Owner + " (" + string(cl.Holder.State) + ")"
			}
			say(d.Stderr, levelInfo, fmt.Sprintf("skipped %q at %s: taken by %s", job, key.TickString(), holder))
		}
		return exitStatus(c.FollowerExit)
	case ledger.LostFound:
		say(d.Stderr, levelWarning, fmt.Sprintf("the run of %q at %s on %s was lost with its instance (lease ended while running); recorded lost, not rerun (--on-lost rerun allows it)",
			job, key.TickString(), cl.Holder.Owner))
		return exitStatus(c.FollowerExit)
	}
	if cl.Run.Rerun != nil {
		say(d.Stderr, levelWarning, fmt.Sprintf("rerunning %q at %s: attempt %d on %s was lost with its instance", job, key.TickString(), cl.Run.Rerun.Attempt, cl.Run.Rerun.Owner))
	} else if g.Verbose {
		say(d.Stderr, levelInfo, fmt.Sprintf("running %q at %s: claimed (fence %d)", job, key.TickString(), cl.Run.Record().Fence))
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	code, err := ledger.Supervise(context.Background(), cl.Run, cmd, ledger.SuperviseOptions{Grace: c.Grace, Signals: sigs, Log: log})
	if err != nil {
		var se *gate.StartError
		if errors.As(err, &se) {
			return fmt.Errorf("run: %w", err)
		}
		say(d.Stderr, levelError, "run: "+err.Error())
	}
	return exitStatus(code)
}

// leadership is what the election says before a ledger claim.
type leadership struct {
	leader      bool
	self, group string
	region      string
	electionErr error // the election failed: not a reason to skip with the ledger
}

// whoLeads asks the election for the hint of who claims first. A failed
// election is no reason to skip: the identity and group then come from the
// last verdict (they do not change), or from IMDS and --group.
func (g *Globals) whoLeads(d *Deps, log *slog.Logger, tick time.Time) (leadership, error) {
	switch g.Assume {
	case "leader", "follower":
		host, _ := os.Hostname()
		group := g.Group
		if group == "" {
			group = "default"
		}
		return leadership{leader: g.Assume == "leader", self: host, group: group}, nil
	}
	e, err := g.elector(d, log)
	if err != nil {
		return leadership{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	v, err := e.Decide(ctx, elect.Request{Tick: tick})
	if err == nil {
		return leadership{leader: v.Leader, self: v.Self, group: v.Group}, nil
	}
	if elect.ExitCodeOf(err) == elect.ExitConfig {
		return leadership{}, err // no group tag, AccessDenied: an operator must act
	}
	who := leadership{electionErr: err, group: g.Group}
	if last, ok := e.Store.Load(); ok {
		who.self = last.Self
		if who.group == "" {
			who.group = last.Group
		}
	}
	if who.self == "" {
		self, serr := (&elect.AWS{Logger: log}).Self(ctx)
		if serr != nil {
			return leadership{}, fmt.Errorf("election failed (%w) and this instance's identity is unknown", err)
		}
		who.self, who.region = self.InstanceID, self.Region
	}
	if who.group == "" {
		return leadership{}, fmt.Errorf("election failed and this instance's group is not known yet (pass --group): %w", err)
	}
	return who, nil
}
