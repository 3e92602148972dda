package cli

import (
	"context"
	"fmt"
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

// runLedger is `run --ledger`: the election (asked once, here, for it
// also names this instance and its group) is the gate's Authority, and the
// ledger's Turn takes the tick: the leader claims it at the tick and runs
// the command as its child, renewing the lease; a follower, or an instance
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
	if err := checkLease(f.Lease, c.Grace); err != nil {
		return err
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

	// SIGTERM while waiting for this instance's turn ends leadergate with
	// 128+N; once the command runs, the gate forwards signals to its group.
	ctx, stop := signalContext()
	defer stop()

	who, err := g.whoLeads(d, log, tick)
	if err != nil {
		return err
	}
	if err := (ledger.Key{Group: who.group, Job: job, Tick: tick}).Check(); err != nil {
		return &ledger.Error{Code: exitcode.Config, Err: err}
	}
	store, err := ledgerStore(context.Background(), g.Ledger, "", d, log, who.region)
	if err != nil {
		return err
	}
	opts := c.gateOptions(g, d, argv, obs)
	opts.Turn = &ledger.Turn{
		Ledger:   &ledger.Ledger{Store: store, Owner: who.self, Clock: d.Clock, Lease: f.Lease, Timeout: g.Timeout, Log: log},
		Group:    who.group,
		Takeover: f.TakeoverAfter,
	}
	opts.RerunLost = f.OnLost == "rerun"
	code, err := gate.Run(ctx, who.authority(f.TakeoverAfter), gate.Job{Name: job, Tick: tick}, opts)
	waitObs()
	if err != nil {
		return err
	}
	return exitStatus(code)
}

// signalContext is cancelled, with the exit status 128+N as its cause, by
// SIGTERM, SIGINT or SIGHUP.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(exitStatus(128 + int(s.(syscall.Signal))))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// authority is the election's answer, asked once by whoLeads, as the
// gate's Authority: under the ledger it only says who claims first.
func (w leadership) authority(takeover time.Duration) gate.Authority {
	return decided{w, takeover}
}

type decided struct {
	w        leadership
	takeover time.Duration
}

func (d decided) MayRun(context.Context, gate.Job) (gate.Permit, error) {
	if d.w.electionErr != nil {
		return gate.Permit{}, d.w.electionErr
	}
	return gate.Permit{Run: d.w.leader, Reason: d.w.reason(d.takeover)}, nil
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
