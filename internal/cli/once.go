package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/ledger"
)

// EBManifest is where Elastic Beanstalk (Amazon Linux 2 and 2023) writes
// the application version it deploys, next to the source bundle it
// downloaded, before it runs container_commands and the predeploy hooks.
const EBManifest = "/opt/elasticbeanstalk/deployment/app_version_manifest.json"

// onceCmd is a deploy task: exactly one instance of the group runs the
// command for a key, the others wait for its end and exit with its code.
type onceCmd struct {
	Key           string        `env:"LEADERGATE_KEY" placeholder:"KEY" help:"What is done once, e.g. migrate@v42 (default: the application version Elastic Beanstalk is deploying)."`
	NoWait        bool          `env:"LEADERGATE_NO_WAIT" help:"Do not wait for a run on another instance: exit 0 (or --follower-exit) at once."`
	RetryFailed   bool          `env:"LEADERGATE_RETRY_FAILED" help:"Run again a task whose run failed (or was lost) before this call; without it, its failure is the answer."`
	OnLost        string        `env:"LEADERGATE_ON_LOST" enum:"rerun,fail,report" default:"rerun" placeholder:"rerun|fail" help:"A runner that died mid-run (its lease ran out): a waiter reruns it (fence + 1), or it is recorded lost and reported failed (report, run's word, means fail)."`
	FollowerExit  *int          `env:"LEADERGATE_FOLLOWER_EXIT" placeholder:"N" help:"Exit code of the instances that did not run it (default: the exit code of the run)."`
	MaxWait       time.Duration `env:"LEADERGATE_MAX_WAIT" default:"1h" placeholder:"D" help:"Give up waiting for another instance's run after this long (exit 75). (--timeout is the election's.)"`
	TakeoverAfter time.Duration `env:"LEADERGATE_TAKEOVER_AFTER" default:"15s" placeholder:"D" help:"A follower runs a task nobody has started this long after it starts waiting: the leader goes first."`
	Lease         time.Duration `env:"LEADERGATE_LEASE" default:"60s" placeholder:"D" help:"The runner's lease, renewed every third of it: a waiter takes a dead runner's task over after it."`
	Grace         time.Duration `env:"LEADERGATE_GRACE" default:"10s" placeholder:"D" help:"Between SIGTERM and SIGKILL when the command must stop."`
	Manifest      string        `env:"LEADERGATE_MANIFEST" default:"/opt/elasticbeanstalk/deployment/app_version_manifest.json" placeholder:"FILE" help:"Elastic Beanstalk's application version manifest, read for the default key."`
	Command       []string      `arg:"" optional:"" passthrough:"" placeholder:"-- CMD ARGS" help:"The command, run directly (never through a shell)."`
}

func (c *onceCmd) Run(g *Globals, d *Deps) error {
	argv, err := commandArgs("once", c.Command)
	if err != nil {
		return err
	}
	if g.Ledger == "" {
		return &ledger.Error{Code: exitcode.Config, Err: errors.New("once needs the ledger: only its conditional writes make one run fleet-wide"),
			Fix: "pass --ledger TABLE or set LEADERGATE_LEDGER (see leadergate ledger create)"}
	}
	for _, p := range []struct {
		flag string
		d    time.Duration
	}{{"--lease", c.Lease}, {"--takeover-after", c.TakeoverAfter}, {"--max-wait", c.MaxWait}, {"--grace", c.Grace}} {
		if err := positive(p.flag, p.d, "give a positive duration"); err != nil {
			return err
		}
	}
	key := c.Key
	if key == "" {
		if key, err = appVersion(c.Manifest); err != nil {
			return err
		}
	}
	if _, se := gate.Resolve(argv[0]); se != nil {
		return fmt.Errorf("once: %w", se)
	}
	log := newLogger(d.Stderr, g.Verbose, "")
	start := d.Now()
	who, err := g.whoLeads(d, log, time.Time{})
	if err != nil {
		return err
	}
	if who.electionErr != nil {
		say(d.Stderr, levelWarning, fmt.Sprintf("election failed (%v); running %s after --takeover-after %s if nobody has", who.electionErr, key, c.TakeoverAfter))
	}
	k := ledger.OnceKey(who.group, key)
	if err := k.Check(); err != nil {
		return &ledger.Error{Code: exitcode.Config, Err: err, Fix: "give a shorter --key"}
	}
	store, err := ledgerStore(context.Background(), g.Ledger, "", d, log, who.region)
	if err != nil {
		return err
	}
	l := &ledger.Ledger{Store: store, Owner: who.self, Clock: d.Clock, Lease: c.Lease}
	claimAt := start
	if !who.leader {
		claimAt = start.Add(c.TakeoverAfter)
	}

	// SIGTERM while waiting ends leadergate (128+N); while the command
	// runs, it stops the command, whose end is recorded.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	base, stopAll := context.WithCancelCause(context.Background())
	defer stopAll(nil)
	go func() {
		select {
		case s := <-sigs:
			stopAll(signalled{s.(syscall.Signal)})
		case <-base.Done():
		}
	}()
	ctx, cancel := context.WithTimeoutCause(base, c.MaxWait, errMaxWait)
	defer cancel()
	lastSaid := time.Time{}
	res, err := l.Once(ctx, k, ledger.OnceOptions{
		ClaimAt:     claimAt,
		NoWait:      c.NoWait,
		RetryFailed: c.RetryFailed,
		RefuseLost:  c.OnLost != "rerun", // "report": LEADERGATE_ON_LOST=report set for run and schedule
		Poll:        min(ledger.DefaultOncePoll, c.Lease/4),
		Waiting: func(r ledger.Record, err error) {
			now := d.Now()
			if err != nil {
				say(d.Stderr, levelWarning, fmt.Sprintf("once %s: cannot read the ledger (%v); trying again", key, err))
				return
			}
			if !lastSaid.IsZero() && now.Sub(lastSaid) < onceProgressEvery {
				return
			}
			lastSaid = now
			say(d.Stderr, levelInfo, fmt.Sprintf("once %s: waiting for %s, running for %s (attempt %d, fence %d)",
				key, r.Owner, now.Sub(r.Started).Round(time.Second), r.Attempt, r.Fence))
		},
	})
	var sig signalled
	switch {
	case err != nil && errors.As(context.Cause(base), &sig):
		return exitStatus(128 + int(sig.s))
	case err != nil && errors.Is(err, errMaxWait):
		return &ledger.Error{Code: exitcode.TempFail, Err: fmt.Errorf("once %s: still not done after --max-wait %s", key, c.MaxWait),
			Fix: "see leadergate history; raise --max-wait"}
	case err != nil:
		return fmt.Errorf("once %s: %w", key, err)
	}
	follower := func(code int) error {
		if c.FollowerExit != nil {
			code = *c.FollowerExit
		}
		return exitStatus(code)
	}
	switch res.Outcome {
	case ledger.OnceBusy:
		if g.Verbose {
			say(d.Stderr, levelInfo, fmt.Sprintf("once %s: running on %s; not waiting (--no-wait)", key, res.Record.Owner))
		}
		return follower(0)
	case ledger.OnceDone:
		r := res.Record
		switch r.State {
		case ledger.Succeeded:
			if res.Waited || g.Verbose {
				say(d.Stderr, levelInfo, fmt.Sprintf("once %s: done on %s (exit 0)", key, r.Owner))
			}
			return follower(0)
		case ledger.Lost:
			say(d.Stderr, levelError, fmt.Sprintf("once %s: its run on %s was lost with its instance and is not rerun (--on-lost fail); run again with --retry-failed", key, r.Owner))
			return follower(exitcode.Failure)
		default:
			say(d.Stderr, levelError, fmt.Sprintf("once %s: failed on %s with exit %d; a later once runs it again only with --retry-failed", key, r.Owner, r.ExitCode))
			return follower(r.ExitCode)
		}
	}
	return c.run(base, d, key, res, argv)
}

var errMaxWait = errors.New("--max-wait reached")

// signalled is the cause of a stop by signal.
type signalled struct{ s syscall.Signal }

func (s signalled) Error() string { return "stopped by " + s.s.String() }

// onceProgressEvery spaces the waiting lines on stderr.
const onceProgressEvery = 10 * time.Second

// run runs the claimed task: the command as a child in its own process
// group, the lease renewed while it runs, its end recorded.
func (c *onceCmd) run(base context.Context, d *Deps, key string, res ledger.OnceResult, argv []string) error {
	run := res.Run
	if run.Rerun != nil {
		say(d.Stderr, levelWarning, fmt.Sprintf("once %s: running it again (fence %d): its run on %s was %s", key, run.Record().Fence, run.Rerun.Owner, describe(*run.Rerun, d.Now())))
	}
	env := append(os.Environ(), run.Env()...) // before Hold: its renewals rewrite the record
	// The wait's deadline does not bound the run; a signal stops it.
	held, finish := run.Hold(context.WithoutCancel(base), c.Grace)
	stop, cancelStop := context.WithCancel(held)
	defer cancelStop()
	defer context.AfterFunc(base, cancelStop)()
	// Through the guard, as a service's command: a runner SIGKILLed with
	// its leadergate must not go on beside the waiter that reruns it.
	sup := &gate.Supervisor{Argv: argv, Grace: c.Grace, Env: env}
	code, err := sup.RunOnce(stop)
	if err != nil {
		_ = finish(gate.End{Code: code})
		return fmt.Errorf("once: %w", err)
	}
	// Stopped by a signal (a deploy cancelled, the instance shutting down)
	// and not done: the task did not fail by itself. Its claim is let go,
	// as a dead runner's lease runs out, so that a waiter or the next once
	// runs it again (--on-lost), rather than recorded failed for good.
	var sig signalled
	stopped := errors.As(context.Cause(base), &sig) && code != 0
	if stopped {
		say(d.Stderr, levelWarning, fmt.Sprintf("once %s: stopped by %s (exit %d); its claim is let go: a waiter, or the next once with this key, runs it again (--on-lost %s)", key, sig.s, code, c.OnLost))
	}
	if ferr := finish(gate.End{Code: code, Stopped: stopped}); ferr != nil {
		if errors.Is(ferr, ledger.ErrLeaseLost) {
			return &ledger.Error{Code: exitcode.TempFail, Err: fmt.Errorf("once %s: %w", key, ferr),
				Fix: "another instance may run it again; see leadergate history"}
		}
		say(d.Stderr, levelWarning, fmt.Sprintf("once %s: exit %d, but its end could not be recorded (%v); waiters take it over when its lease runs out", key, code, ferr))
	}
	return exitStatus(code)
}

func describe(r ledger.Record, now time.Time) string {
	switch r.AsOf(now).State {
	case ledger.Failed:
		return fmt.Sprintf("failed with exit %d (--retry-failed)", r.ExitCode)
	case ledger.Lost:
		return "lost with its instance (its lease ran out)"
	}
	return string(r.State)
}

// commandArgs is the command after "--", refusing a flag kong passed on.
func commandArgs(name string, command []string) ([]string, error) {
	argv := command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	} else if len(argv) > 0 && strings.HasPrefix(argv[0], "-") {
		return nil, usageError{fmt.Errorf("unknown flag %s; see leadergate %s --help", argv[0], name)}
	}
	if len(argv) == 0 {
		return nil, usageError{fmt.Errorf("%s needs a command: leadergate %s -- CMD ARGS...", name, name)}
	}
	return argv, nil
}

// appVersion reads the version label Elastic Beanstalk is deploying from
// its manifest: {"VersionLabel": ...}, or the one label under
// {"RuntimeSources": {APP: {LABEL: {...}}}}.
func appVersion(path string) (string, error) {
	fix := "give the key yourself: --key migrate@v42"
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &ledger.Error{Code: exitcode.Config,
			Err: fmt.Errorf("once: no --key, and no Elastic Beanstalk deployment to name it: %w", err), Fix: fix}
	}
	var m struct {
		VersionLabel   string
		RuntimeSources map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return "", &ledger.Error{Code: exitcode.Config, Err: fmt.Errorf("once: %s is not the JSON Elastic Beanstalk writes: %w", path, err), Fix: fix}
	}
	if m.VersionLabel != "" {
		return m.VersionLabel, nil
	}
	var labels []string
	for _, versions := range m.RuntimeSources {
		for label := range versions {
			labels = append(labels, label)
		}
	}
	if len(labels) != 1 {
		sort.Strings(labels)
		return "", &ledger.Error{Code: exitcode.Config,
			Err: fmt.Errorf("once: %s names %d application versions (%s), not one", path, len(labels), strings.Join(labels, ", ")), Fix: fix}
	}
	return labels[0], nil
}
