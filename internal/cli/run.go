package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/leadergate/leadergate/gate"
)

type runCmd struct {
	NoOverlap    bool          `env:"LEADERGATE_NO_OVERLAP" help:"Skip (exit 0, one warning) while a previous run of the same command is still running."`
	LockName     string        `env:"LEADERGATE_LOCK_NAME" placeholder:"NAME" help:"Key of the --no-overlap lock (default: derived from the command)."`
	MaxRuntime   time.Duration `env:"LEADERGATE_MAX_RUNTIME" placeholder:"D" help:"Stay as parent and stop the command's process group after D (exit 124)."`
	Grace        time.Duration `env:"LEADERGATE_GRACE" default:"10s" help:"With --max-runtime: time between SIGTERM and SIGKILL."`
	FollowerExit int           `env:"LEADERGATE_FOLLOWER_EXIT" default:"0" placeholder:"N" help:"Exit code on a follower."`
	DryRun       bool          `env:"LEADERGATE_DRY_RUN" help:"Say what would happen; run nothing."`
	PingURL      string        `env:"LEADERGATE_PING_URL" placeholder:"URL" help:"Ping URL/start, then URL or URL/<exit code> with the output's tail (healthchecks.io protocol); leadergate stays as parent."`
	OnFailure    string        `env:"LEADERGATE_ON_FAILURE" placeholder:"COMMAND" help:"Shell command run when the command fails (LEADERGATE_JOB, _EXIT_CODE, _OUTPUT_TAIL ... in its environment); leadergate stays as parent."`
	HookTimeout  time.Duration `env:"LEADERGATE_HOOK_TIMEOUT" default:"1m" help:"Stop the --on-failure command after this long."`
	LedgerFlags
	Command []string `arg:"" optional:"" passthrough:"" placeholder:"-- CMD ARGS" help:"The command, run directly (never through a shell)."`
}

func (c *runCmd) Run(g *Globals, d *Deps) error {
	argv := c.Command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	} else if len(argv) > 0 && strings.HasPrefix(argv[0], "-") {
		// kong hands an unknown flag before "--" over as the command: a
		// typo must not become the command on the leader and a silent
		// exit 0 on every follower.
		return usageError{fmt.Errorf("unknown flag %s; see leadergate run --help", argv[0])}
	}
	if len(argv) == 0 {
		return usageError{errors.New("run needs a command: leadergate run -- CMD ARGS...")}
	}
	if err := positive("--grace", c.Grace, "the command needs some time between SIGTERM and SIGKILL: give e.g. --grace 1s"); err != nil {
		return err
	}
	if c.MaxRuntime < 0 {
		return usageError{fmt.Errorf("--max-runtime %s: a duration cannot be negative", c.MaxRuntime)}
	}
	var auth gate.Authority
	if outer := heldRun(); outer != "" && g.Ledger != "" {
		// A leftover `leadergate run --` prefix on a line the scheduler (or
		// an outer run --ledger) already claimed: claiming again would find
		// the tick taken and silently run nothing while history says the
		// run succeeded. The outer claim decided; run the command.
		say(d.Stderr, levelWarning, fmt.Sprintf("nested inside run %s, which already holds its tick in the ledger: running the command without a second claim; remove the 'leadergate run' prefix from this line", outer))
		auth = nested(outer)
	} else if g.Ledger != "" {
		return c.runLedger(g, d, argv)
	} else {
		var err error
		if auth, err = g.authority(d, newLogger(d.Stderr, g.Verbose, "")); err != nil {
			return err
		}
	}
	obs, wait, err := c.observer(strings.Join(argv, " "), d.Now(), newLogger(d.Stderr, g.Verbose, ""))
	if err != nil {
		return err
	}
	code, err := gate.Run(context.Background(), auth, gate.Job{Name: strings.Join(argv, " ")}, c.gateOptions(g, d, argv, obs))
	wait()
	if err != nil {
		return err
	}
	return exitStatus(code)
}

// gateOptions are run's flags as the gate takes them, with the ledger or
// without.
func (c *runCmd) gateOptions(g *Globals, d *Deps, argv []string, obs gate.Observer) gate.Options {
	return gate.Options{
		Argv:         argv,
		FollowerExit: c.FollowerExit,
		NoOverlap:    c.NoOverlap,
		LockName:     c.LockName,
		LockDir:      g.stateDir(),
		MaxRuntime:   c.MaxRuntime,
		Grace:        c.Grace,
		DryRun:       c.DryRun,
		Verbose:      g.Verbose,
		Stderr:       d.Stderr,
		Clock:        d.Clock,
		Observer:     obs,
	}
}

// heldRun is the run id of the claimed run this process runs inside, if
// any: the scheduler and run --ledger give a claimed run's command
// LEADERGATE_RUN_ID and LEADERGATE_FENCE (only a claim has a fence). Those
// variables are what leadergate tells a job, never configuration it reads
// back as a flag.
func heldRun() string {
	if os.Getenv("LEADERGATE_FENCE") == "" {
		return ""
	}
	return os.Getenv("LEADERGATE_RUN_ID")
}

// nested is the Authority of a run nested inside a claimed one: the outer
// run's claim already made this instance the one to run the tick.
type nested string

func (n nested) MayRun(context.Context, gate.Job) (gate.Permit, error) {
	return gate.Permit{Run: true, Reason: "the outer run " + string(n) + " holds the tick"}, nil
}
