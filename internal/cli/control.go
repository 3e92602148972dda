package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/leadergate/leadergate/internal/exitcode"
	"github.com/leadergate/leadergate/internal/voice"
	"github.com/leadergate/leadergate/ledger"
	"github.com/leadergate/leadergate/schedule"
)

// The operator's controls: pause, resume, trigger, skip, backfill, rerun.
// Each asks STS who the caller is (the actor every control records), then
// writes the control and its audit record to the ledger. See
// docs/controls.md.

// controlFlags are the flags every control takes.
type controlFlags struct {
	Reason string `env:"LEADERGATE_REASON" placeholder:"TEXT" help:"Why: recorded with the control and shown in history."`
	Region string `env:"LEADERGATE_REGION" placeholder:"REGION" help:"AWS region (default: AWS_REGION, or this instance's)."`
}

// operator builds the ledger's operator for cmd: the group, the store and
// the caller's identity. Nothing is written yet.
func (f controlFlags) operator(ctx context.Context, g *Globals, d *Deps, cmd string) (*ledger.Operator, *ledger.DynamoDB, string, error) {
	if g.Ledger == "" {
		return nil, nil, "", usageError{fmt.Errorf("%s: no ledger; pass --ledger TABLE or set LEADERGATE_LEDGER", cmd)}
	}
	log := newLogger(d.Stderr, g.Verbose, "")
	group, err := g.ledgerGroup(ctx, d, log, cmd)
	if err != nil {
		return nil, nil, "", err
	}
	if err := ledger.CheckTable(g.Ledger); err != nil {
		return nil, nil, "", err
	}
	cfg, err := ledgerConfig(ctx, f.Region, d, log, "")
	if err != nil {
		return nil, nil, "", err
	}
	store, err := ledger.NewDynamoDB(cfg, g.Ledger, d.Now)
	if err != nil {
		return nil, nil, "", err
	}
	actor, err := ledger.Caller(ctx, cfg)
	if err != nil {
		return nil, nil, "", err
	}
	return &ledger.Operator{Store: store, Controls: store, Actor: actor, Clock: d.Clock}, store, group, nil
}

// warnUnknown warns when the ledger has no record of job in the time it
// keeps (a misspelt name would otherwise wait, or pause, for nothing):
// one Query. The control is given all the same: a new job has no record.
func warnUnknown(ctx context.Context, d *Deps, store ledger.Store, group, job string) {
	if job == "" {
		return
	}
	recs, err := store.Recent(ctx, group, job, d.Now().Add(-ledger.DefaultRetain), 1)
	if err == nil && len(recs) == 0 {
		voice.Say(d.Stderr, voice.Warning, fmt.Sprintf("the ledger has no run of %q in group %s: is the name right? (leadergate history lists the jobs)", job, group))
	}
}

// target names what a pause or resume is about.
func target(job, group string) string {
	if job == "" {
		return "every job of group " + group
	}
	return job
}

// jobAndTick splits JOB@TICK at its last '@' (a job name may hold one).
func jobAndTick(cmd, arg string) (string, time.Time, error) {
	i := strings.LastIndexByte(arg, '@')
	if i <= 0 {
		return "", time.Time{}, usageError{fmt.Errorf("%s: %q is not JOB@TICK (e.g. billing@2026-03-14T03:00:00Z, as history prints it)", cmd, arg)}
	}
	t, err := time.Parse(time.RFC3339, arg[i+1:])
	if err != nil {
		return "", time.Time{}, usageError{fmt.Errorf("%s: the tick of %q is not an RFC 3339 time (e.g. 2026-03-14T03:00:00Z)", cmd, arg)}
	}
	return arg[:i], t, nil
}

type pauseCmd struct {
	Job   string        `arg:"" optional:"" help:"The job to pause (its name in the crontab)."`
	All   bool          `env:"LEADERGATE_ALL" help:"Pause every job of the group."`
	Until time.Time     `env:"LEADERGATE_UNTIL" placeholder:"TIME" help:"Lift the pause by itself at TIME (RFC 3339)."`
	For   time.Duration `env:"LEADERGATE_FOR" placeholder:"D" help:"Lift the pause by itself after D."`
	controlFlags
}

func (c *pauseCmd) Run(g *Globals, d *Deps) error {
	if (c.Job == "") == !c.All {
		return usageError{errors.New("pause: name one JOB, or --all for the whole group")}
	}
	if !c.Until.IsZero() && c.For != 0 || c.For < 0 {
		return usageError{errors.New("pause: give --until or a positive --for, not both")}
	}
	until := c.Until
	if c.For > 0 {
		until = d.Now().Add(c.For)
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	op, store, group, err := c.operator(ctx, g, d, "pause")
	if err != nil {
		return err
	}
	warnUnknown(ctx, d, store, group, c.Job)
	p, err := op.Pause(ctx, group, c.Job, until, c.Reason)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	fmt.Fprintf(d.Stdout, "%s %s; every scheduler skips its ticks from the next one\n", target(c.Job, group), p.Describe())
	return nil
}

type resumeCmd struct {
	Job string `arg:"" optional:"" help:"The job to resume."`
	All bool   `env:"LEADERGATE_ALL" help:"Lift the pause of the whole group (a job's own pause stays)."`
	controlFlags
}

func (c *resumeCmd) Run(g *Globals, d *Deps) error {
	if (c.Job == "") == !c.All {
		return usageError{errors.New("resume: name one JOB, or --all for the whole group")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	op, store, group, err := c.operator(ctx, g, d, "resume")
	if err != nil {
		return err
	}
	ok, err := op.Resume(ctx, group, c.Job, c.Reason)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if !ok {
		voice.Say(d.Stderr, voice.Warning, fmt.Sprintf("%s was not paused: nothing to resume", target(c.Job, group)))
		return nil
	}
	fmt.Fprintf(d.Stdout, "%s resumed; its next tick runs\n", target(c.Job, group))
	if c.Job != "" {
		// A job's resume does not lift the group's pause: say so.
		if cs, err := store.Controls(ctx, group); err == nil {
			if p, paused := (ledger.ControlSet{Items: cs}).Paused(c.Job, d.Now()); paused {
				voice.Say(d.Stderr, voice.Warning, fmt.Sprintf("the whole group is still %s (leadergate resume --all)", p.Describe()))
			}
		}
	}
	return nil
}

type triggerCmd struct {
	Job  string        `arg:"" help:"The job to run once now."`
	Wait bool          `env:"LEADERGATE_WAIT" help:"Wait for the run, print where it ran, and exit with its exit code."`
	Poll time.Duration `env:"LEADERGATE_POLL" default:"2s" hidden:"" help:"How often --wait reads the run's record."`
	controlFlags
}

func (c *triggerCmd) Run(g *Globals, d *Deps) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	op, store, group, err := c.operator(ctx, g, d, "trigger")
	if err != nil {
		return err
	}
	warnUnknown(ctx, d, store, group, c.Job)
	tr, err := op.Trigger(ctx, group, c.Job, c.Reason)
	if err != nil {
		return fmt.Errorf("trigger: %w", err)
	}
	k := tr.RunKey()
	fmt.Fprintf(d.Stdout, "triggered %s (run %s); the instance that leads runs it at its next look (at most a minute)\n", c.Job, k.TickString())
	if !c.Wait {
		return nil
	}
	return waitForRun(d, store, k, tr.At.Add(ledger.RequestWindow), c.Poll)
}

// slowStart is how long trigger --wait waits for a start before it says
// that nobody has started the run: the leader looks every minute, and the
// others take a request over after --takeover-after.
const slowStart = 3 * time.Minute

// waitForRun reads the record of k every poll until its run has ended, and
// returns its exit code; a run not started by deadline was dropped.
func waitForRun(d *Deps, store ledger.Store, k ledger.Key, deadline time.Time, poll time.Duration) error {
	started, warned := false, false
	slow := d.Now().Add(slowStart)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, found, err := store.Get(ctx, k)
		cancel()
		now := d.Now()
		switch {
		case err != nil:
			voice.Say(d.Stderr, voice.Warning, "cannot read the run's record; trying again: "+err.Error())
		case found && !started && r.State == ledger.Running:
			started = true
			fmt.Fprintf(d.Stdout, "running on %s (run id %s)\n", r.Owner, r.RunID())
		case found && r.AsOf(now).State == ledger.Lost:
			return &ledger.Error{Code: exitcode.TempFail, Err: fmt.Errorf("trigger: the run was lost with its instance %s (attempt %d); it is not rerun", r.Owner, r.Attempt),
				Fix: "see leadergate history; run leadergate trigger again if it may run twice"}
		case found && r.State.Final():
			if !started {
				fmt.Fprintf(d.Stdout, "ran on %s (run id %s)\n", r.Owner, r.RunID())
			}
			fmt.Fprintf(d.Stdout, "%s on %s, exit code %d, after %s\n", r.State, r.Owner, r.ExitCode, r.Duration(now).Round(time.Second))
			if r.ExitCode != 0 {
				return exitStatus(r.ExitCode)
			}
			return nil
		case !found && now.After(deadline):
			return &ledger.Error{Code: exitcode.TempFail, Err: fmt.Errorf("trigger: no scheduler took the run within %s; it is dropped", ledger.RequestWindow),
				Fix: "check that leadergate schedule --ledger runs on the group's instances"}
		case !found && !warned && now.After(slow):
			// The leader looks at least once a minute: this long without a
			// start, nobody is going to start it soon. Say so, once, rather
			// than wait an hour in silence.
			warned = true
			voice.Say(d.Stderr, voice.Warning, fmt.Sprintf("no scheduler has started %s after %s: is %q in the crontab of group %s's schedulers, and do they run with the ledger? waiting until %s, then it is dropped",
				k.TickString(), slowStart, k.Job, k.Group, deadline.UTC().Format(time.RFC3339)))
		}
		<-d.Clock.After(poll)
	}
}

type skipCmd struct {
	Tick string `arg:"" placeholder:"JOB@TICK" help:"The tick not to run, e.g. billing@2026-03-14T03:00:00Z."`
	controlFlags
}

func (c *skipCmd) Run(g *Globals, d *Deps) error {
	job, tick, err := jobAndTick("skip", c.Tick)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	op, _, group, err := c.operator(ctx, g, d, "skip")
	if err != nil {
		return err
	}
	var cf *ledger.Conflict
	switch err := op.Skip(ctx, group, job, tick, c.Reason); {
	case errors.As(err, &cf):
		what := "has a record already"
		if cf.Holder != nil {
			what = "is " + string(cf.Holder.AsOf(d.Now()).State) + " on " + cf.Holder.Owner
		}
		return &ledger.Error{Code: exitcode.Config, Err: fmt.Errorf("skip: %s %s; nothing was written", c.Tick, what),
			Fix: "skip a tick before it is due; leadergate history shows what ran"}
	case err != nil:
		return fmt.Errorf("skip: %w", err)
	}
	fmt.Fprintf(d.Stdout, "%s will not run: recorded skipped\n", c.Tick)
	return nil
}

type rerunCmd struct {
	Tick string `arg:"" placeholder:"JOB@TICK" help:"The past tick to run again, e.g. billing@2026-03-14T03:00:00Z."`
	controlFlags
}

func (c *rerunCmd) Run(g *Globals, d *Deps) error {
	job, tick, err := jobAndTick("rerun", c.Tick)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.Timeout)
	defer cancel()
	op, _, group, err := c.operator(ctx, g, d, "rerun")
	if err != nil {
		return err
	}
	if _, err := op.Rerun(ctx, group, job, tick, c.Reason); err != nil {
		return fmt.Errorf("rerun: %w", err)
	}
	fmt.Fprintf(d.Stdout, "rerun of %s asked: the instance that leads runs it as a new attempt (new fence) at its next look\n", c.Tick)
	return nil
}

type backfillCmd struct {
	Job    string        `arg:"" help:"The job whose missed ticks to run."`
	Since  time.Duration `env:"LEADERGATE_SINCE" required:"" placeholder:"D" help:"Ticks at most D old."`
	File   string        `default:"leader-jobs.cron" env:"LEADERGATE_FILE" placeholder:"FILE" help:"The crontab that has the job (its schedule gives the ticks)."`
	Max    int           `env:"LEADERGATE_MAX" default:"100" placeholder:"N" help:"At most N ticks (at most 100)."`
	DryRun bool          `env:"LEADERGATE_DRY_RUN" help:"List the ticks that would run, write nothing."`
	controlFlags
}

func (c *backfillCmd) Run(g *Globals, d *Deps) error {
	if c.Since <= 0 || c.Max <= 0 || c.Max > ledger.MaxBackfill {
		return usageError{fmt.Errorf("backfill: --since must be positive, --max from 1 to %d", ledger.MaxBackfill)}
	}
	tab, err := schedule.ParseFile(c.File)
	if err != nil {
		return err
	}
	var job *schedule.Job
	for i := range tab.Jobs {
		if tab.Jobs[i].Name == c.Job {
			job = &tab.Jobs[i]
		}
	}
	switch {
	case job == nil:
		return usageError{fmt.Errorf("backfill: %s has no job named %q", c.File, c.Job)}
	case job.EveryInstance:
		return usageError{fmt.Errorf("backfill: %q runs on every instance; the ledger keeps leader-only jobs", c.Job)}
	}
	now := d.Now()
	ticks, more := ledger.Ticks(job.Next, now.Add(-c.Since), now, c.Max)
	ctx, cancel := context.WithTimeout(context.Background(), max(g.Timeout, 30*time.Second))
	defer cancel()
	op, _, group, err := c.operator(ctx, g, d, "backfill")
	if err != nil {
		return err
	}
	unrun, err := op.Unrun(ctx, group, c.Job, ticks)
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	if more {
		voice.Say(d.Stderr, voice.Warning, fmt.Sprintf("more than %d ticks in the last %s: only the oldest %d are looked at", c.Max, c.Since, c.Max))
	}
	if len(unrun) == 0 {
		fmt.Fprintf(d.Stdout, "nothing to backfill: every tick of %s in the last %s ran or has a record\n", c.Job, c.Since)
		return nil
	}
	for _, t := range unrun {
		fmt.Fprintf(d.Stdout, "%s@%s\n", c.Job, t.UTC().Format(ledger.TickFormat))
	}
	if c.DryRun {
		fmt.Fprintf(d.Stdout, "dry run: %d ticks would run, oldest first, one at a time; nothing was written\n", len(unrun))
		return nil
	}
	if _, err := op.Backfill(ctx, group, c.Job, unrun, c.Reason); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	fmt.Fprintf(d.Stdout, "backfill of %d ticks asked: the instance that leads runs them oldest first, one at a time\n", len(unrun))
	return nil
}
