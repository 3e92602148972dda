// Package cli is leadergate's command line: the kong structs, one file per
// command (check.go, run.go, schedule.go, ...), the CLI voice (log.go) and
// the mapping of errors to exit codes (exit.go). The flag-free fast path of
// check and run is quick.go. Package main only builds [Deps] and calls
// [Main].
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kong"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/clock"
	"github.com/leadergate/leadergate/internal/exitcode"
)

// legacyMarker is the marker file of the leader-manager scripts leadergate
// replaces, kept by default so their `test -e` crontab lines go on working.
const legacyMarker = "/var/app/leader/leader-manager-is-leader"

// Globals are the flags every command takes.
type Globals struct {
	StateDir string        `env:"LEADERGATE_STATE_DIR" placeholder:"DIR" help:"Verdict cache and locks (default /var/lib/leadergate for root, else $$XDG_STATE_HOME/leadergate)."`
	Marker   string        `env:"LEADERGATE_MARKER" default:"${marker}" placeholder:"FILE" help:"Marker file present on the leader only, for legacy 'test -e' lines; empty for none. The default is kept only where its directory exists."`
	MaxAge   time.Duration `env:"LEADERGATE_MAX_AGE" default:"20s" help:"Reuse a verdict this young; 0s elects every time."`
	GroupTag []string      `env:"LEADERGATE_GROUP_TAG" default:"elasticbeanstalk:environment-id,aws:autoscaling:groupName" placeholder:"KEY" help:"Tag whose value names the group, tried in order."`
	Group    string        `env:"LEADERGATE_GROUP" placeholder:"VALUE" help:"The group's tag value, instead of reading it from this instance's tags."`
	Assume   string        `env:"LEADERGATE_ASSUME" enum:"leader,follower," default:"" placeholder:"leader|follower" help:"Answer without AWS, for laptops, staging and CI."`
	Timeout  time.Duration `env:"LEADERGATE_TIMEOUT" default:"10s" help:"Give up an election after this long (exit 75)."`
	StaleOK  time.Duration `env:"LEADERGATE_STALE_OK" default:"0s" help:"When an election fails, accept a verdict up to this old instead of exit 75."`
	NoTag    bool          `env:"LEADERGATE_NO_TAG" help:"Do not set this instance's leader tag."`
	Ledger   string        `env:"LEADERGATE_LEDGER" placeholder:"TABLE" help:"DynamoDB table of the tick ledger: every scheduled run exactly once (see leadergate ledger create)."`
	Verbose  bool          `short:"v" env:"LEADERGATE_VERBOSE" help:"Say why on stderr."`
}

// CLI is the command line.
type CLI struct {
	Globals

	Check     checkCmd     `cmd:"" help:"Exit 0 on the leader, 1 on a follower, 75 when it cannot tell."`
	Run       runCmd       `cmd:"" help:"Run a command on the leader only: leadergate run -- CMD ARGS..."`
	Elect     electCmd     `cmd:"" help:"Force a fresh election and update the tag and marker."`
	Status    statusCmd    `cmd:"" help:"Show this instance, its group, the leader and every candidate."`
	Schedule  scheduleCmd  `cmd:"" help:"Run the jobs of a crontab-style file on the leader, without a cron daemon."`
	Drain     drainCmd     `cmd:"" help:"Step down: tag this instance draining so every election passes over it."`
	Undrain   undrainCmd   `cmd:"" help:"Remove this instance's draining tag: it takes part in elections again."`
	Simulate  simulateCmd  `cmd:"" help:"Show the election on simulated instances, with no AWS account."`
	Once      onceCmd      `cmd:"" help:"Run a deploy task on exactly one instance; the others wait for it and exit with its code (with --ledger)."`
	Service   serviceCmd   `cmd:"" help:"Run a long-lived command on exactly one instance, handed over when it leaves."`
	Ledger    ledgerCmd    `cmd:"" help:"Administer the tick ledger: leadergate ledger create [--table NAME]."`
	History   historyCmd   `cmd:"" help:"Show the fleet's recent runs from the ledger, newest first."`
	Pause     pauseCmd     `cmd:"" group:"Operate the fleet (with --ledger):" help:"Pause a job (or --all) on every instance: its ticks are skipped and recorded skipped."`
	Resume    resumeCmd    `cmd:"" group:"Operate the fleet (with --ledger):" help:"Lift a pause: the job's next tick runs."`
	Trigger   triggerCmd   `cmd:"" group:"Operate the fleet (with --ledger):" help:"Run a job once now, on the instance that leads (--wait for its exit code)."`
	Skip      skipCmd      `cmd:"" group:"Operate the fleet (with --ledger):" help:"Do not run one upcoming tick: JOB@TICK."`
	Backfill  backfillCmd  `cmd:"" group:"Operate the fleet (with --ledger):" help:"Run once each past tick of a job that never ran, oldest first (--dry-run lists them)."`
	Rerun     rerunCmd     `cmd:"" group:"Operate the fleet (with --ledger):" help:"Run a past tick again, as a new attempt: JOB@TICK."`
	IAMPolicy iamPolicyCmd `cmd:"" name:"iam-policy" help:"Print the least-privilege IAM policy (--operator: an operator's)."`
	Version   versionCmd   `cmd:"" help:"Print the version (also: leadergate --version)."`
}

// Deps are built once in main and handed to every command.
type Deps struct {
	Stdout, Stderr io.Writer
	Clock          clock.Clock // the one clock: elections, locks, timeouts, the scheduler
	// Version and Commit are stamped by the linker into package main.
	Version, Commit string

	// One of each per process, built on first use (a cached verdict needs
	// neither): the AWS adapter (one IMDS token, one identity read, one
	// hardened SDK configuration for EC2, Auto Scaling and DynamoDB alike)
	// and the elector.
	awsOnce sync.Once
	aws     *elect.AWS
	elector *elect.Elector
}

// AWS is the process's one AWS adapter.
func (d *Deps) AWS(log *slog.Logger) *elect.AWS {
	d.awsOnce.Do(func() { d.aws = &elect.AWS{Logger: log} })
	return d.aws
}

// Now is the time on d's clock.
func (d *Deps) Now() time.Time { return d.Clock.Now() }

// Main runs the command line args (without the program name) and returns
// the exit code. d holds what main built once: the streams, the clock, the
// version.
func Main(args []string, deps *Deps) int {
	var cli CLI
	if len(args) > 0 && args[0] == gate.GuardArg {
		// The guard between `service` and its command (gate.Supervisor).
		return gate.GuardMain(args[1:])
	}
	if len(args) == 1 && args[0] == "--version" {
		args = []string{"version"} // as most tools answer it
	}
	if code, ok := quick(args, deps); ok {
		return code
	}
	parser, err := kong.New(&cli,
		kong.Name("leadergate"),
		kong.Description("Run scheduled jobs on exactly one instance of an EC2 group."),
		kong.Vars{"marker": legacyMarker},
		kong.Bind(deps),
		kong.UsageOnError(),
		kong.Writers(deps.Stdout, deps.Stderr),
	)
	if err != nil {
		panic(err) // the CLI struct itself is wrong: a programming error
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return exitCode(usageError{fmt.Errorf("%w; see leadergate --help", plainParseError(err))}, deps.Stderr)
	}
	kctx.Bind(&cli.Globals)
	return exitCode(offEC2Hint(kctx.Command(), kctx.Run()), deps.Stderr)
}

// stateDir is --state-dir or the default for this user.
func (g *Globals) stateDir() string {
	if g.StateDir != "" {
		return g.StateDir
	}
	return elect.DefaultStateDir()
}

// elector builds the election from the flags. Nothing touches AWS until
// a verdict must be made.
func (g *Globals) elector(d *Deps, log *slog.Logger) (*elect.Elector, error) {
	if d.elector != nil {
		return d.elector, nil
	}
	dir := g.stateDir()
	aws := d.AWS(log)
	e := &elect.Elector{
		Identity: aws,
		Fleet:    aws,
		SelfTags: aws,
		Store:    &elect.Store{Dir: dir, Clock: d.Clock},
		Config: elect.Config{
			GroupTags: g.GroupTag,
			Group:     g.Group,
			Marker:    elect.Marker{Path: g.Marker, Optional: g.Marker == legacyMarker},
			MaxAge:    g.MaxAge,
			StaleOK:   g.StaleOK,
			Timeout:   g.Timeout,
			NoTag:     g.NoTag,
		},
		Clock:  d.Clock,
		Logger: log,
	}
	if err := e.Config.Validate(); err != nil {
		return nil, usageError{err}
	}
	d.elector = e
	return e, nil
}

// authority answers "may this run now?": the election, or --assume.
func (g *Globals) authority(d *Deps, log *slog.Logger) (gate.Authority, error) {
	switch g.Assume {
	case "leader":
		return gate.Assume(true), nil
	case "follower":
		return gate.Assume(false), nil
	}
	e, err := g.elector(d, log)
	if err != nil {
		return nil, err
	}
	return gate.Election{Decider: e}, nil
}

// offEC2Hint adds to an error of an instance that IMDS could not identify
// the way around it that this command offers: only some take --assume.
func offEC2Hint(command string, err error) error {
	if !errors.Is(err, elect.ErrNoIdentity) {
		return err
	}
	switch strings.Fields(command + " x")[0] {
	case "check", "run", "elect", "schedule":
		return fmt.Errorf("%w; off EC2 use --assume leader|follower", err)
	case "history", "ledger":
		return &elect.Error{Code: exitcode.Config, Err: err, Fix: "off EC2 pass --region and --group"}
	}
	return err
}
