package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/ledger"
	"github.com/leadergate/leadergate/schedule"
)

// scheduleLedgerFlags are schedule's flags for the ledger (--ledger is global).
type scheduleLedgerFlags struct {
	TakeoverAfter time.Duration `env:"LEADERGATE_TAKEOVER_AFTER" default:"15s" placeholder:"D" help:"With --ledger: followers take an unclaimed tick this long after it (plus the job's # jitter)."`
	Lease         time.Duration `env:"LEADERGATE_LEASE" default:"60s" placeholder:"D" help:"With --ledger: a claim's lease, renewed while the job runs; longer than --grace."`
	CatchUp       time.Duration `env:"LEADERGATE_CATCH_UP" placeholder:"D" help:"With --ledger: at start, run once the most recent tick missed within D (per job: # catch-up: D)."`
}

// withLedger wires the ledger's turn into the scheduler's options when
// --ledger is set: the scheduler takes every leader-only tick through it.
func (c *scheduleCmd) withLedger(g *Globals, d *Deps, log *slog.Logger, opts *schedule.Options) error {
	if g.Ledger == "" {
		return nil
	}
	f := c.scheduleLedgerFlags
	if f.TakeoverAfter <= 0 || f.Lease <= 0 || f.CatchUp < 0 {
		return usageError{fmt.Errorf("schedule: --takeover-after and --lease must be positive, --catch-up not negative")}
	}
	if err := checkLease(f.Lease, c.Grace); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	who, err := g.whoLeads(d, log, time.Time{})
	if err != nil {
		return err
	}
	store, err := ledgerStore(ctx, g.Ledger, "", d, log, who.region)
	if err != nil {
		return err
	}
	// Everything the scheduler will need of the table, checked now: a
	// missing table, a wrong schema or a missing permission stops it with
	// 78 and the fix, rather than a healthy-looking start that logs an
	// error at every tick while nothing runs. An unreachable ledger is no
	// reason not to start: each tick retries it.
	if err := store.Preflight(ctx); exitcode.Of(err) == exitcode.Config {
		return err
	} else if err != nil {
		log.Warn("the ledger cannot be reached at start; each tick tries again, and nothing runs until it can", "table", g.Ledger, "error", err)
	}
	turn := &ledger.Turn{
		Ledger:   &ledger.Ledger{Store: store, Owner: who.self, Clock: d.Clock, Lease: f.Lease, Timeout: g.Timeout, Log: log},
		Group:    who.group,
		Takeover: f.TakeoverAfter,
	}
	opts.Ledger = turn
	opts.CatchUp = f.CatchUp
	opts.Controls = scheduleControls{&ledger.Controller{Ledger: turn.Ledger, Group: who.group, Takeover: f.TakeoverAfter}, turn}
	log.Info("tick ledger on", "table", g.Ledger, "group", who.group, "instance", who.self, "takeover_after", f.TakeoverAfter, "lease", f.Lease)
	return nil
}

// checkLease refuses a lease no longer than the grace period: a holder
// whose renewals fail stops its job grace before the lease ends (SIGTERM,
// then SIGKILL at the lease's end), so that nobody reruns a tick beside it.
func checkLease(lease, grace time.Duration) error {
	if lease <= grace {
		return usageError{fmt.Errorf("--lease %s must be longer than --grace %s: a job that cannot renew its lease is stopped grace before the lease ends, so that no other instance reruns it while it still runs", lease, grace)}
	}
	return nil
}
