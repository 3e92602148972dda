// Command leadergate runs scheduled jobs on exactly one instance of a group
// of identical EC2 instances. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/leadergate/leadergate/elect"
	"github.com/leadergate/leadergate/gate"
	"github.com/leadergate/leadergate/internal/sim"
	"github.com/leadergate/leadergate/schedule"
)

// Set by the linker: -X main.version=... -X main.commit=...
var version, commit string

const (
	exitUsage    = gate.ExitUsage // sysexits EX_USAGE; kong's own default is 80
	legacyMarker = "/var/app/leader/leader-manager-is-leader"
)

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
	IAMPolicy iamPolicyCmd `cmd:"" name:"iam-policy" help:"Print the least-privilege IAM policy."`
	Version   versionCmd   `cmd:"" help:"Print the version."`
}

// Deps are built once in main and handed to every command.
type Deps struct {
	Stdout, Stderr io.Writer
	Now            func() time.Time
}

func main() {
	var cli CLI
	deps := &Deps{Stdout: os.Stdout, Stderr: os.Stderr, Now: time.Now}
	if code, ok := quick(os.Args[1:], deps); ok {
		os.Exit(code)
	}
	parser, err := kong.New(&cli,
		kong.Name("leadergate"),
		kong.Description("Run scheduled jobs on exactly one instance of an EC2 group."),
		kong.Vars{"marker": legacyMarker},
		kong.Bind(deps),
		kong.UsageOnError(),
	)
	if err != nil {
		panic(err) // the CLI struct itself is wrong: a programming error
	}
	kctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "leadergate: error: %v; see leadergate --help\n", err)
		os.Exit(exitUsage)
	}
	kctx.Bind(&cli.Globals)
	err = kctx.Run()
	os.Exit(exitCode(err, os.Stderr))
}

// quick runs the two commands cron starts every minute, `check` and
// `run -- CMD`, when they have no flags, without building the kong CLI: its
// reflection is most of what leadergate itself adds to a cached answer.
// Settings come from the LEADERGATE_* variables and the same defaults, read
// from the same struct tags; anything unusual (a flag, a value that does
// not parse) takes the full path, which reports it.
func quick(args []string, d *Deps) (code int, ok bool) {
	var g Globals
	if len(args) == 0 || !fromEnv(&g) {
		return 0, false
	}
	switch {
	case len(args) == 1 && args[0] == "check":
		return exitCode((&checkCmd{}).Run(&g, d), d.Stderr), true
	case len(args) > 2 && args[0] == "run" && args[1] == "--":
		var c runCmd
		if !fromEnv(&c) {
			return 0, false
		}
		c.Command = args[1:]
		return exitCode(c.Run(&g, d), d.Stderr), true
	}
	return 0, false
}

// fromEnv fills the flag fields of the struct cmd points to as kong would
// with no flags given: from each field's env variable, else its default. It
// reports false when a value does not parse or is not among its enum.
func fromEnv(cmd any) bool {
	v := reflect.ValueOf(cmd).Elem()
	for i := range v.NumField() {
		f, tag := v.Field(i), v.Type().Field(i).Tag
		if _, isArg := tag.Lookup("arg"); isArg {
			continue
		}
		if f.Kind() == reflect.Struct {
			continue // an embedded or nested struct: not a flag
		}
		s, set := os.LookupEnv(tag.Get("env"))
		if !set {
			s = strings.ReplaceAll(tag.Get("default"), "${marker}", legacyMarker)
		}
		if enum, ok := tag.Lookup("enum"); ok && !slices.Contains(strings.Split(enum, ","), s) {
			return false
		}
		switch p := f.Addr().Interface().(type) {
		case *string:
			*p = s
		case *[]string:
			*p = nil
			if s != "" {
				*p = strings.Split(s, ",")
			}
		case *time.Duration:
			d, err := time.ParseDuration(s)
			if err != nil && s != "" {
				return false
			}
			*p = d
		case *bool:
			b, err := strconv.ParseBool(s)
			if err != nil && s != "" {
				return false
			}
			*p = b
		case *int:
			n, err := strconv.Atoi(s)
			if err != nil && s != "" {
				return false
			}
			*p = n
		default:
			return false
		}
	}
	return true
}

// exitCode prints err (if it has something to say) and returns the code it carries.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var silent exitStatus
	if errors.As(err, &silent) {
		return int(silent)
	}
	fmt.Fprintf(stderr, "leadergate: error: %v\n", err)
	return gate.ExitCode(err)
}

// exitStatus ends a command with a code and nothing to say.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func (g *Globals) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if g.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime}))
}

// dropTime keeps one-shot commands' stderr lines short; cron and journald
// stamp them anyway.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// elector builds the election from the flags. Nothing touches AWS until
// a verdict must be made.
func (g *Globals) stateDir() string {
	if g.StateDir != "" {
		return g.StateDir
	}
	return elect.DefaultStateDir()
}

func (g *Globals) elector(d *Deps, log *slog.Logger) (*elect.Elector, error) {
	dir := g.stateDir()
	aws := &elect.AWS{Logger: log}
	e := &elect.Elector{
		Identity: aws,
		Fleet:    aws,
		SelfTags: aws,
		Store:    &elect.Store{Dir: dir},
		Config: elect.Config{
			GroupTags: g.GroupTag,
			Group:     g.Group,
			Marker:    elect.Marker{Path: g.Marker, Optional: g.Marker == legacyMarker},
			MaxAge:    g.MaxAge,
			StaleOK:   g.StaleOK,
			Timeout:   g.Timeout,
			NoTag:     g.NoTag,
		},
		Now:    d.Now,
		Logger: log,
	}
	if err := e.Config.Validate(); err != nil {
		return nil, usageError{err}
	}
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

type usageError struct{ error }

func (usageError) ExitCode() int { return exitUsage }

type checkCmd struct{}

func (c *checkCmd) Run(g *Globals, d *Deps) error {
	auth, err := g.authority(d, g.logger(d.Stderr))
	if err != nil {
		return err
	}
	p, err := auth.MayRun(context.Background(), gate.Job{Name: "check"})
	if err != nil {
		return err
	}
	if p.Stale {
		fmt.Fprintf(d.Stderr, "leadergate: warning: %s\n", p.Note)
	}
	if g.Verbose {
		fmt.Fprintf(d.Stderr, "leadergate: %s\n", p.Reason)
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
	log := g.logger(d.Stderr)
	e, err := g.elector(d, log)
	if err != nil {
		return err
	}
	v, err := e.Decide(context.Background(), elect.Request{Force: true})
	if err != nil {
		return err
	}
	if v.Stale {
		fmt.Fprintf(d.Stderr, "leadergate: warning: election failed, kept the verdict of %s (--stale-ok): %s\n", v.At.Format(time.RFC3339), v.StaleCause)
	}
	if g.Verbose {
		fmt.Fprintf(d.Stderr, "leadergate: leader=%t leader_id=%s group=%s=%s candidates=%d: %s\n", v.Leader, v.LeaderID, v.GroupKey, v.Group, v.Candidates, v.Reason)
	}
	return nil
}

type statusCmd struct {
	JSON bool `env:"LEADERGATE_JSON" help:"Print JSON."`
}

func (c *statusCmd) Run(g *Globals, d *Deps) error {
	if g.Assume != "" {
		return usageError{errors.New("status shows a real election and cannot be combined with --assume")}
	}
	e, err := g.elector(d, g.logger(d.Stderr))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	v, candidates, err := e.Survey(ctx)
	if err != nil {
		return err
	}
	cached, haveCached := e.Store.Load()
	type candidate struct {
		ID         string    `json:"id"`
		LaunchTime time.Time `json:"launch_time"`
		LeaderTag  string    `json:"leader_tag"`
		Leader     bool      `json:"leader"`
		Self       bool      `json:"self"`
		Draining   string    `json:"draining_since,omitempty"`
		Why        string    `json:"draining_reason,omitempty"`
	}
	out := struct {
		Self       string      `json:"self"`
		GroupKey   string      `json:"group_key"`
		Group      string      `json:"group"`
		Leader     string      `json:"leader"`
		IsLeader   bool        `json:"is_leader"`
		Reason     string      `json:"reason"`
		Candidates []candidate `json:"candidates"`
		CachedAt   *time.Time  `json:"cached_verdict_at,omitempty"`
		CachedAge  string      `json:"cached_verdict_age,omitempty"`
		CachedLead *bool       `json:"cached_is_leader,omitempty"`
	}{Self: v.Self, GroupKey: v.GroupKey, Group: v.Group, Leader: v.LeaderID, IsLeader: v.Leader, Reason: v.Reason, Candidates: []candidate{}}
	for _, i := range candidates {
		c := candidate{ID: i.ID, LaunchTime: i.LaunchTime.UTC(), LeaderTag: i.Tags[elect.LeaderTag], Leader: i.ID == v.LeaderID, Self: i.ID == v.Self}
		if at, why, ok := elect.DrainOf(i); ok {
			c.Draining, c.Why = orDash(at), orDash(why)
		}
		out.Candidates = append(out.Candidates, c)
	}
	if haveCached {
		out.CachedAt, out.CachedLead = &cached.At, &cached.Leader
		out.CachedAge = d.Now().Sub(cached.At).Round(time.Millisecond).String()
	}
	if c.JSON {
		enc := json.NewEncoder(d.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(d.Stdout, "instance  %s\ngroup     %s=%s\nleader    %s (this instance: %t)\nreason    %s\n", v.Self, v.GroupKey, v.Group, v.LeaderID, v.Leader, v.Reason)
	if haveCached {
		fmt.Fprintf(d.Stdout, "cached    leader=%t, %s old\n", cached.Leader, out.CachedAge)
	} else {
		fmt.Fprintf(d.Stdout, "cached    no verdict yet\n")
	}
	tw := tabwriter.NewWriter(d.Stdout, 0, 4, 2, ' ', 0)
	// The last column is not padded, so no line ends in blanks.
	fmt.Fprintln(tw, "\nINSTANCE\tLAUNCHED\tTAG leader")
	for _, c := range out.Candidates {
		last := orDash(c.LeaderTag)
		if c.Leader {
			last += "  <- leader"
		}
		if c.Self {
			last += " (self)"
		}
		if c.Draining != "" {
			last += fmt.Sprintf("  draining since %s: %s", c.Draining, c.Why)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, c.LaunchTime.Format(time.RFC3339), last)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type iamPolicyCmd struct {
	Protect bool `env:"LEADERGATE_PROTECT" help:"Add autoscaling:SetInstanceProtection for schedule --protect, scoped to groups carrying the first --group-tag (=--group when given)."`
}

func (c *iamPolicyCmd) Run(g *Globals, d *Deps) error {
	o := elect.IAMOptions{Protect: c.Protect, ProtectTagValue: g.Group}
	if len(g.GroupTag) > 0 {
		o.ProtectTagKey = g.GroupTag[0]
	}
	_, err := d.Stdout.Write(elect.IAMPolicyWith(o))
	return err
}

type versionCmd struct{}

func (c *versionCmd) Run(d *Deps) error {
	v, c2 := version, commit
	if v == "" {
		v = "dev"
	}
	if c2 == "" {
		c2 = "unknown"
	}
	fmt.Fprintf(d.Stdout, "leadergate %s (commit %s, %s %s/%s)\n", v, c2, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

type runCmd struct {
	NoOverlap    bool          `env:"LEADERGATE_NO_OVERLAP" help:"Skip (exit 0, one warning) while a previous run of the same command is still running."`
	LockName     string        `env:"LEADERGATE_LOCK_NAME" placeholder:"NAME" help:"Key of the --no-overlap lock (default: derived from the command)."`
	MaxRuntime   time.Duration `env:"LEADERGATE_MAX_RUNTIME" placeholder:"D" help:"Stay as parent and stop the command's process group after D (exit 124)."`
	Grace        time.Duration `env:"LEADERGATE_GRACE" default:"10s" help:"With --max-runtime: time between SIGTERM and SIGKILL."`
	FollowerExit int           `env:"LEADERGATE_FOLLOWER_EXIT" default:"0" placeholder:"N" help:"Exit code on a follower."`
	DryRun       bool          `env:"LEADERGATE_DRY_RUN" help:"Say what would happen; run nothing."`
	Command      []string      `arg:"" optional:"" passthrough:"" placeholder:"-- CMD ARGS" help:"The command, run directly (never through a shell)."`
}

func (c *runCmd) Run(g *Globals, d *Deps) error {
	argv := c.Command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return usageError{errors.New("run needs a command: leadergate run -- CMD ARGS...")}
	}
	auth, err := g.authority(d, g.logger(d.Stderr))
	if err != nil {
		return err
	}
	code, err := gate.Run(context.Background(), auth, gate.Job{Name: strings.Join(argv, " ")}, gate.Options{
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
	})
	if err != nil {
		return err
	}
	return exitStatus(code)
}

type scheduleCmd struct {
	File         string        `arg:"" default:"leader-jobs.cron" env:"LEADERGATE_FILE" help:"Crontab-style file of leader-only jobs."`
	Check        bool          `env:"LEADERGATE_CHECK" help:"Validate the file and print each job's next 3 runs; exit 0, or 65 listing every bad line."`
	Refresh      time.Duration `env:"LEADERGATE_REFRESH" default:"1m" help:"Re-check leadership this often between runs, keeping tag and marker current."`
	Grace        time.Duration `env:"LEADERGATE_GRACE" default:"30s" help:"On SIGTERM, time running jobs get before SIGKILL."`
	AllowOverlap bool          `env:"LEADERGATE_ALLOW_OVERLAP" help:"Start a job even while its previous run is still going."`
	LogFormat    string        `env:"LEADERGATE_LOG_FORMAT" enum:"text,json" default:"text" help:"Log format: text or json."`
}

func (c *scheduleCmd) Run(g *Globals, d *Deps) error {
	if c.Check {
		tab, err := schedule.CheckFile(c.File)
		if err != nil {
			return err
		}
		return schedule.Check(d.Stdout, d.Stderr, tab, d.Now())
	}
	level := slog.LevelInfo
	if g.Verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	if c.LogFormat == "json" {
		log = slog.New(slog.NewJSONHandler(d.Stderr, opts))
	} else {
		log = slog.New(slog.NewTextHandler(d.Stderr, opts))
	}
	auth, err := g.authority(d, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Stop(reload)
	return schedule.Run(ctx, schedule.Options{
		File:         c.File,
		Authority:    auth,
		Logger:       log,
		Refresh:      c.Refresh,
		Grace:        c.Grace,
		AllowOverlap: c.AllowOverlap,
		Reload:       reload,
	})
}

type simulateCmd struct {
	Instances int           `env:"LEADERGATE_INSTANCES" default:"5" help:"Instances in the simulated group."`
	Others    int           `env:"LEADERGATE_OTHERS" default:"2" help:"Instances of another group in the same region (never counted or tagged)."`
	Chaos     int           `env:"LEADERGATE_CHAOS" placeholder:"ROUNDS" help:"Play this many rounds mixing leader kills, stop/start, launches, immutable deploys and faults."`
	Seed      uint64        `env:"LEADERGATE_SEED" default:"1" help:"Seed for --chaos."`
	Lag       time.Duration `env:"LEADERGATE_LAG" help:"Eventual consistency: a terminated instance looks running this long."`
}

func (c *simulateCmd) Run(d *Deps) error {
	cfg := sim.Config{Instances: c.Instances, Others: c.Others, Seed: c.Seed, Lag: c.Lag}
	if c.Chaos > 0 {
		cfg.Script = sim.ChaosScript(c.Chaos, c.Seed)
	}
	fmt.Fprintf(d.Stdout, "%d instances of one Elastic Beanstalk environment and %d of another, against the built-in EC2 and IMDS emulators.\nEvery round, every instance elects at the same moment (as cron fires them); exactly one would run the job, none in a fault round.\n\n", cfg.Instances, c.Others)
	res, err := sim.Run(context.Background(), cfg, d.Stdout)
	if err != nil {
		return err
	}
	if res.Problems > 0 {
		return fmt.Errorf("simulation: %d rounds went wrong", res.Problems)
	}
	fmt.Fprintf(d.Stdout, "\nall %d rounds as expected\n", len(res.Rounds))
	return nil
}
