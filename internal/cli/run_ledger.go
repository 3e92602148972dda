package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/ledger"
)

// LedgerFlags are run's flags for the ledger (embedded in runCmd).
type LedgerFlags struct {
	Job           string        `placeholder:"NAME" help:"With --ledger: the job's name in the ledger (default: the command line)."`
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
// nobody has. A ledger it cannot reach: exit 75, nothing runs. The gate
// does the rest as without the ledger (--no-overlap, --max-runtime,
// --dry-run, pings), claiming just before the command would start.
func (c *runCmd) runLedger(g *Globals, d *Deps, argv []string) error {
	f := &c.LedgerFlags
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
	// Before any waiting: a command that cannot start is not worth a
	// takeover delay (the gate looks it up again before claiming).
	if _, se := gate.Resolve(argv[0]); se != nil {
		return fmt.Errorf("run: %w", se)
	}
	log := newLogger(d.Stderr, g.Verbose, "")
	obs, waitObs, err := c.observer(job, tick, log)
	if err != nil {
		return err
	}

	// SIGTERM while waiting for this instance's turn ends leadergate;
	// once the command runs, the gate forwards signals to its group.
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
		return &ledger.Error{Code: exitcode.Config, Err: err}
	}
	store, err := ledgerStore(context.Background(), g.Ledger, "", d, log, who.region)
	if err != nil {
		return err
	}
	claimAt := ledger.ClaimAt(tick, who.leader, f.TakeoverAfter)
	rc := &runClaim{
		l:       &ledger.Ledger{Store: store, Owner: who.self, Clock: d.Clock, Lease: f.Lease},
		key:     key,
		opts:    ledger.ClaimOptions{Look: !who.leader, Rerun: f.OnLost == "rerun"},
		at:      claimAt,
		timeout: g.Timeout,
		stderr:  d.Stderr,
		log:     log,
	}
	if o, ok := obs.(*runObserver); ok {
		rc.reportLost = o.lost
	}
	if wait := claimAt.Sub(d.Now()); wait > 0 && !c.DryRun {
		select {
		case <-d.Clock.After(wait):
		case s := <-sigs:
			return exitStatus(128 + int(s.(syscall.Signal)))
		}
	}
	signal.Stop(sigs)

	opts := c.gateOptions(g, d, argv, obs)
	opts.Ledger = rc
	code, err := gate.Run(context.Background(), ledgerTurn(who.reason(f.TakeoverAfter)), gate.Job{Name: job, Tick: tick}, opts)
	waitObs()
	if err != nil {
		return err
	}
	return exitStatus(code)
}

// ledgerTurn is the gate's Authority under the ledger: it is always this
// instance's turn to try (the wait for it is over); the claim decides.
type ledgerTurn string

func (t ledgerTurn) MayRun(context.Context, gate.Job) (gate.Permit, error) {
	return gate.Permit{Run: true, Reason: string(t)}, nil
}

// runClaim is gate.Ledger for the one tick of run --ledger.
type runClaim struct {
	l       *ledger.Ledger
	key     ledger.Key
	opts    ledger.ClaimOptions
	at      time.Time // when this instance claims: the tick, or the takeover delay after it
	timeout time.Duration
	stderr  io.Writer
	log     *slog.Logger
	// reportLost, when set (--ping-url, --on-failure), reports a run found
	// lost with its instance: nobody else will, as its instance died.
	reportLost func(runID string, attempt int)
}

var _ gate.Ledger = (*runClaim)(nil)

func (c *runClaim) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, c.timeout, fmt.Errorf("no answer from the ledger within --timeout %s", c.timeout))
}

// Claim implements gate.Ledger.
func (c *runClaim) Claim(ctx context.Context) (gate.Held, string, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	cl, err := c.l.Claim(ctx, c.key, c.opts)
	if err != nil {
		return nil, "", err
	}
	switch cl.Outcome {
	case ledger.Taken:
		return nil, takenBy(c.key, cl.Holder), nil
	case ledger.LostFound:
		say(c.stderr, levelWarning, fmt.Sprintf("the run of %q at %s on %s was lost with its instance (lease ended while running); recorded lost, not rerun (--on-lost rerun allows it)",
			c.key.Job, c.key.TickString(), cl.Holder.Owner))
		if c.reportLost != nil {
			c.reportLost(cl.Holder.RunID(), cl.Holder.Attempt)
		}
		return nil, "recorded lost", nil
	}
	rec := cl.Run.Record()
	if cl.Run.Rerun != nil {
		say(c.stderr, levelWarning, fmt.Sprintf("rerunning %q at %s: attempt %d on %s was lost with its instance", c.key.Job, c.key.TickString(), cl.Run.Rerun.Attempt, cl.Run.Rerun.Owner))
		if c.reportLost != nil {
			c.reportLost(cl.Run.Rerun.RunID(), cl.Run.Rerun.Attempt)
		}
	}
	return held{run: cl.Run, log: c.log}, fmt.Sprintf("claimed %s (fence %d)", c.key, rec.Fence), nil
}

// Look implements gate.Ledger: one read, no write.
func (c *runClaim) Look(ctx context.Context) (bool, string, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	cl, err := c.l.Look(ctx, c.key, c.opts)
	if err != nil {
		return false, "", err
	}
	at := ""
	if c.at.After(c.l.Now()) {
		at = " at " + c.at.UTC().Format(time.RFC3339) + " unless another instance has by then"
	}
	switch {
	case cl.Outcome == ledger.Won && cl.Holder != nil:
		return true, fmt.Sprintf("would rerun %s%s: its run on %s was lost (lease ended while running)", c.key, at, cl.Holder.Owner), nil
	case cl.Outcome == ledger.Won:
		return true, "would claim " + c.key.String() + at, nil
	case cl.Outcome == ledger.LostFound:
		return false, fmt.Sprintf("%s was lost on %s (lease ended while running); would record it lost, not rerun it (--on-lost rerun allows it)", c.key, cl.Holder.Owner), nil
	}
	return false, takenBy(c.key, cl.Holder), nil
}

func takenBy(k ledger.Key, h *ledger.Record) string {
	if h == nil {
		return k.String() + " is taken by another instance"
	}
	return k.String() + " is taken by " + h.Owner + " (" + string(h.State) + ")"
}

// leadership is what the election says before a ledger claim.
type leadership struct {
	leader      bool
	self, group string
	region      string
	electionErr error // the election failed: not a reason to skip with the ledger
}

// reason is why this instance tries the claim when it does, for -v and
// dry runs.
func (w leadership) reason(takeover time.Duration) string {
	switch {
	case w.electionErr != nil:
		return fmt.Sprintf("%s: the election failed; it takes the tick over after --takeover-after %s if nobody has", w.self, takeover)
	case w.leader:
		return fmt.Sprintf("%s is the leader of %s: it claims at the tick", w.self, w.group)
	}
	return fmt.Sprintf("%s is a follower in %s: it takes the tick over after --takeover-after %s if nobody has", w.self, w.group, takeover)
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
	if elect.CannotTell(err) == exitcode.Config {
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
		self, serr := d.AWS(log).Self(ctx)
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
